using System.Text.Json;
using Messenger.Security.Noise;
using Xunit;

namespace Messenger.Tests.Security;

/// <summary>
/// Runs every vector of TestData/noise-25519-sha256.json (cacophony + snow, 25519 / ChaChaPoly|AESGCM /
/// SHA256): each message is written by its sender and compared byte for byte with the vector's
/// ciphertext, then read by the other side and compared with the payload.
/// </summary>
public sealed class NoiseVectorTests
{
    private const string VectorFile = "noise-25519-sha256.json";
    private static readonly Lazy<JsonElement[]> LoadedVectors = new(LoadVectors);

    public static TheoryData<string, int> Vectors()
    {
        var data = new TheoryData<string, int>();
        JsonElement[] vectors = LoadedVectors.Value;
        for (int i = 0; i < vectors.Length; i++)
        {
            data.Add(vectors[i].GetProperty("protocol_name").GetString()!, i);
        }

        return data;
    }

    [Fact]
    public void Vector_file_is_present_and_complete()
    {
        JsonElement[] vectors = LoadedVectors.Value;
        Assert.Equal(220, vectors.Length);
        Assert.All(vectors, v => Assert.StartsWith("Noise_", v.GetProperty("protocol_name").GetString(), StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Vector_handshake_and_transport_match(string protocolName, int index)
    {
        JsonElement vector = LoadedVectors.Value[index];
        Assert.Equal(protocolName, vector.GetProperty("protocol_name").GetString());

        using NoiseHandshakeState initiator = CreateParty(vector, protocolName, initiator: true);
        using NoiseHandshakeState responder = CreateParty(vector, protocolName, initiator: false);
        JsonElement[] messages = [.. vector.GetProperty("messages").EnumerateArray()];

        int i = 0;
        for (; i < messages.Length && !initiator.IsCompleted; i++)
        {
            byte[] payload = Hex(messages[i], "payload");
            byte[] expected = Hex(messages[i], "ciphertext");
            bool initiatorWrites = initiator.IsMyTurnToWrite;
            Assert.Equal(initiatorWrites, !responder.IsMyTurnToWrite);
            NoiseHandshakeState writer = initiatorWrites ? initiator : responder;
            NoiseHandshakeState reader = initiatorWrites ? responder : initiator;

            byte[] written = writer.WriteMessage(payload);
            Assert.Equal(ToHex(expected), ToHex(written));
            byte[] read = reader.ReadMessage(expected);
            Assert.Equal(ToHex(payload), ToHex(read));
        }

        Assert.True(initiator.IsCompleted, $"initiator handshake incomplete after {i} vector messages");
        Assert.True(responder.IsCompleted, $"responder handshake incomplete after {i} vector messages");
        Assert.Equal(ToHex(initiator.GetHandshakeHash()), ToHex(responder.GetHandshakeHash()));
        if (vector.TryGetProperty("handshake_hash", out JsonElement hash))
        {
            Assert.Equal(hash.GetString(), ToHex(initiator.GetHandshakeHash()));
        }

        using NoiseTransport initiatorTransport = initiator.ToTransport();
        using NoiseTransport responderTransport = responder.ToTransport();
        Assert.Equal(ToHex(initiatorTransport.HandshakeHash.ToArray()), ToHex(responderTransport.HandshakeHash.ToArray()));
        bool oneWay = initiator.Protocol.Pattern.IsOneWay;

        // Transport messages keep alternating in handshake order (always initiator -> responder when one-way).
        int transportMessages = 0;
        for (; i < messages.Length; i++)
        {
            byte[] payload = Hex(messages[i], "payload");
            byte[] expected = Hex(messages[i], "ciphertext");
            bool fromInitiator = oneWay || i % 2 == 0;
            NoiseTransport sender = fromInitiator ? initiatorTransport : responderTransport;
            NoiseTransport receiver = fromInitiator ? responderTransport : initiatorTransport;

            byte[] written = sender.Encrypt(payload);
            Assert.Equal(ToHex(expected), ToHex(written));
            byte[] read = receiver.Decrypt(expected);
            Assert.Equal(ToHex(payload), ToHex(read));
            transportMessages++;
        }

        Assert.True(transportMessages > 0, "vector has no transport messages");
    }

    private static NoiseHandshakeState CreateParty(JsonElement vector, string protocolName, bool initiator)
    {
        string prefix = initiator ? "init_" : "resp_";
        byte[] prologue = OptionalHex(vector, prefix + "prologue") ?? [];
        byte[]? staticKey = OptionalHex(vector, prefix + "static");
        byte[]? ephemeralKey = OptionalHex(vector, prefix + "ephemeral");
        byte[]? remoteStatic = OptionalHex(vector, prefix + "remote_static");
        byte[]? remoteEphemeral = OptionalHex(vector, prefix + "remote_ephemeral");
        List<byte[]>? psks = null;
        if (vector.TryGetProperty(prefix + "psks", out JsonElement pskArray))
        {
            psks = [.. pskArray.EnumerateArray().Select(p => Convert.FromHexString(p.GetString()!))];
        }

        using NoiseKeyPair? s = staticKey is null ? null : NoiseKeyPair.FromPrivateKey(staticKey);
        using NoiseKeyPair? e = ephemeralKey is null ? null : NoiseKeyPair.FromPrivateKey(ephemeralKey);
        return NoiseHandshakeState.Initialize(protocolName, initiator, prologue, s, e, remoteStatic, remoteEphemeral, psks);
    }

    private static byte[]? OptionalHex(JsonElement element, string property)
        => element.TryGetProperty(property, out JsonElement value) ? Convert.FromHexString(value.GetString()!) : null;

    private static byte[] Hex(JsonElement element, string property) => Convert.FromHexString(element.GetProperty(property).GetString()!);

    private static string ToHex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    private static JsonElement[] LoadVectors()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "TestData", VectorFile);
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path));
        return [.. document.RootElement.GetProperty("vectors").EnumerateArray().Select(v => v.Clone())];
    }
}
