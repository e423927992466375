using System.Security.Cryptography;
using Messenger.Security.Noise;
using Xunit;

namespace Messenger.Tests.Security;

public sealed class NoiseHandshakeTests
{
    private static readonly byte[] Prologue = "messenger/1"u8.ToArray();

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void XXpsk3_with_fresh_keys_round_trips(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        NoiseProtocol protocol = NoiseProtocol.Create("XXpsk3", cipher);
        byte[] psk = RandomNumberGenerator.GetBytes(32);
        using NoiseKeyPair initiatorStatic = NoiseKeyPair.Generate();
        using NoiseKeyPair responderStatic = NoiseKeyPair.Generate();
        using var initiator = NoiseHandshakeState.Initialize(protocol, true, Prologue, s: initiatorStatic, psks: [psk]);
        using var responder = NoiseHandshakeState.Initialize(protocol, false, Prologue, s: responderStatic, psks: [psk]);

        Assert.Equal("m1"u8.ToArray(), responder.ReadMessage(initiator.WriteMessage("m1"u8)));
        Assert.Equal("m2"u8.ToArray(), initiator.ReadMessage(responder.WriteMessage("m2"u8)));
        Assert.Equal("m3"u8.ToArray(), responder.ReadMessage(initiator.WriteMessage("m3"u8)));

        AssertCompletedAndTalking(initiator, responder, initiatorStatic, responderStatic);
    }

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void IKpsk2_with_fresh_keys_round_trips(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        NoiseProtocol protocol = NoiseProtocol.Create("IKpsk2", cipher);
        byte[] psk = RandomNumberGenerator.GetBytes(32);
        using NoiseKeyPair initiatorStatic = NoiseKeyPair.Generate();
        using NoiseKeyPair responderStatic = NoiseKeyPair.Generate();
        using var initiator = NoiseHandshakeState.Initialize(
            protocol, true, Prologue, s: initiatorStatic, rs: responderStatic.PublicKey, psks: [psk]);
        using var responder = NoiseHandshakeState.Initialize(protocol, false, Prologue, s: responderStatic, psks: [psk]);

        // Span-based handshake path.
        byte[] message = new byte[initiator.GetMessageLength(5)];
        Assert.Equal(message.Length, initiator.WriteMessage("hello"u8, message));
        byte[] payload = new byte[responder.GetPayloadLength(message.Length)];
        Assert.Equal(5, responder.ReadMessage(message, payload));
        Assert.Equal("hello"u8.ToArray(), payload);
        Assert.Equal(initiatorStatic.PublicKey.ToArray(), responder.RemoteStaticPublicKey.ToArray());

        Assert.Equal("welcome"u8.ToArray(), initiator.ReadMessage(responder.WriteMessage("welcome"u8)));

        AssertCompletedAndTalking(initiator, responder, initiatorStatic, responderStatic);
    }

    [Fact]
    public void Wrong_psk_fails_with_NoiseException_and_poisons_the_handshake()
    {
        NoiseProtocol protocol = NoiseProtocol.Parse("Noise_IKpsk2_25519_ChaChaPoly_SHA256");
        byte[] psk = RandomNumberGenerator.GetBytes(32);
        byte[] otherPsk = RandomNumberGenerator.GetBytes(32);
        using NoiseKeyPair initiatorStatic = NoiseKeyPair.Generate();
        using NoiseKeyPair responderStatic = NoiseKeyPair.Generate();
        using var initiator = NoiseHandshakeState.Initialize(protocol, true, s: initiatorStatic, rs: responderStatic.PublicKey, psks: [psk]);
        using var responder = NoiseHandshakeState.Initialize(protocol, false, s: responderStatic, psks: [otherPsk]);

        // psk2 is mixed in at the end of message 2, so the initiator detects the mismatch there.
        _ = responder.ReadMessage(initiator.WriteMessage([]));
        byte[] reply = responder.WriteMessage([]);
        NoiseException ex = Assert.Throws<NoiseException>(() => initiator.ReadMessage(reply));
        Assert.DoesNotContain(Convert.ToHexString(psk), ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(Convert.ToHexString(otherPsk), ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Throws<NoiseException>(() => initiator.ReadMessage(reply));
        Assert.False(initiator.IsCompleted);
        Assert.Throws<NoiseException>(initiator.ToTransport);
    }

    [Fact]
    public void Tampered_or_truncated_handshake_message_throws()
    {
        using NoiseKeyPair responderStatic = NoiseKeyPair.Generate();
        using NoiseKeyPair initiatorStatic = NoiseKeyPair.Generate();
        const string Name = "Noise_XX_25519_AESGCM_SHA256";

        using (var initiator = NoiseHandshakeState.Initialize(Name, true, s: initiatorStatic))
        using (var responder = NoiseHandshakeState.Initialize(Name, false, s: responderStatic))
        {
            _ = responder.ReadMessage(initiator.WriteMessage([]));
            byte[] message2 = responder.WriteMessage("payload"u8);
            message2[40] ^= 0x04; // inside the encrypted responder static key
            Assert.Throws<NoiseException>(() => initiator.ReadMessage(message2));
        }

        using (var initiator = NoiseHandshakeState.Initialize(Name, true, s: initiatorStatic))
        using (var responder = NoiseHandshakeState.Initialize(Name, false, s: responderStatic))
        {
            _ = responder.ReadMessage(initiator.WriteMessage([]));
            byte[] message2 = responder.WriteMessage([]);
            Assert.Throws<NoiseException>(() => initiator.ReadMessage(message2.AsSpan(0, message2.Length - 1)));
            Assert.Throws<NoiseException>(() => initiator.ReadMessage(message2));
        }

        using (var responder = NoiseHandshakeState.Initialize(Name, false, s: responderStatic))
        {
            Assert.Throws<NoiseException>(() => responder.ReadMessage(new byte[31]));
        }

        using (var responder = NoiseHandshakeState.Initialize(Name, false, s: responderStatic))
        {
            Assert.Throws<NoiseException>(() => responder.ReadMessage(new byte[NoiseConstants.MaxMessageLength + 1]));
        }
    }

    [Fact]
    public void Low_order_ephemeral_is_rejected()
    {
        using NoiseKeyPair responderStatic = NoiseKeyPair.Generate();
        using var responder = NoiseHandshakeState.Initialize("Noise_NN_25519_ChaChaPoly_SHA256", false);
        using var initiator = NoiseHandshakeState.Initialize("Noise_NN_25519_ChaChaPoly_SHA256", true);
        _ = responder.ReadMessage(new byte[32]); // all-zero "public key" is a low-order point
        Assert.Throws<NoiseException>(() => responder.WriteMessage([]));
    }

    [Fact]
    public void Out_of_turn_and_premature_calls_throw()
    {
        using var initiator = NoiseHandshakeState.Initialize("Noise_NN_25519_ChaChaPoly_SHA256", true);
        using var responder = NoiseHandshakeState.Initialize("Noise_NN_25519_ChaChaPoly_SHA256", false);
        Assert.True(initiator.IsMyTurnToWrite);
        Assert.False(responder.IsMyTurnToWrite);
        Assert.Throws<NoiseException>(() => responder.WriteMessage([]));
        Assert.Throws<NoiseException>(() => initiator.ReadMessage(new byte[48]));
        Assert.Throws<NoiseException>(initiator.ToTransport);

        byte[] message = initiator.WriteMessage([]);
        _ = responder.ReadMessage(message);
        Assert.Throws<ArgumentException>(() => responder.WriteMessage(new byte[10], new byte[10]));
        Assert.Throws<NoiseException>(() => responder.WriteMessage(new byte[NoiseConstants.MaxMessageLength]));
        _ = initiator.ReadMessage(responder.WriteMessage([]));

        Assert.True(initiator.IsCompleted);
        Assert.Throws<NoiseException>(() => initiator.WriteMessage([]));
        using NoiseTransport transport = initiator.ToTransport();
        Assert.Throws<NoiseException>(initiator.ToTransport);
    }

    [Fact]
    public void Missing_or_malformed_keys_are_rejected()
    {
        using NoiseKeyPair key = NoiseKeyPair.Generate();
        byte[] psk = new byte[32];

        Assert.Throws<NoiseException>(() => NoiseHandshakeState.Initialize("Noise_XX_25519_ChaChaPoly_SHA256", true));
        Assert.Throws<NoiseException>(() => NoiseHandshakeState.Initialize("Noise_IK_25519_ChaChaPoly_SHA256", true, s: key));
        Assert.Throws<NoiseException>(() => NoiseHandshakeState.Initialize("Noise_IK_25519_ChaChaPoly_SHA256", true, s: key, rs: new byte[31]));
        Assert.Throws<NoiseException>(() => NoiseHandshakeState.Initialize("Noise_XX_25519_ChaChaPoly_SHA256", true, s: key, rs: key.PublicKey));
        Assert.Throws<NoiseException>(() => NoiseHandshakeState.Initialize("Noise_XXpsk3_25519_ChaChaPoly_SHA256", true, s: key));
        Assert.Throws<NoiseException>(() => NoiseHandshakeState.Initialize("Noise_XXpsk3_25519_ChaChaPoly_SHA256", true, s: key, psks: [new byte[16]]));
        Assert.Throws<NoiseException>(() => NoiseHandshakeState.Initialize("Noise_XXpsk3_25519_ChaChaPoly_SHA256", true, s: key, psks: [psk, psk]));
        Assert.Throws<NoiseException>(() => NoiseHandshakeState.Initialize("Noise_XX_25519_ChaChaPoly_SHA256", true, s: key, psks: [psk]));
        Assert.Throws<NoiseException>(() => NoiseKeyPair.FromPrivateKey(new byte[31]));
    }

    [Fact]
    public void One_way_pattern_only_sends_from_initiator()
    {
        using NoiseKeyPair responderStatic = NoiseKeyPair.Generate();
        using var initiator = NoiseHandshakeState.Initialize("Noise_N_25519_ChaChaPoly_SHA256", true, rs: responderStatic.PublicKey);
        using var responder = NoiseHandshakeState.Initialize("Noise_N_25519_ChaChaPoly_SHA256", false, s: responderStatic);
        Assert.Equal("sealed"u8.ToArray(), responder.ReadMessage(initiator.WriteMessage("sealed"u8)));

        using NoiseTransport sender = initiator.ToTransport();
        using NoiseTransport receiver = responder.ToTransport();
        Assert.True(sender.IsOneWay && sender.CanSend && !sender.CanReceive);
        Assert.True(receiver.IsOneWay && receiver.CanReceive && !receiver.CanSend);
        Assert.Throws<NoiseException>(() => receiver.SendCipher);
        Assert.Throws<NoiseException>(() => sender.Decrypt(new byte[16]));
        Assert.Equal("later"u8.ToArray(), receiver.Decrypt(sender.Encrypt("later"u8)));
    }

    [Fact]
    public void Secrets_do_not_appear_in_ToString()
    {
        using NoiseKeyPair key = NoiseKeyPair.Generate();
        byte[] psk = RandomNumberGenerator.GetBytes(32);
        using var state = NoiseHandshakeState.Initialize("Noise_XXpsk3_25519_ChaChaPoly_SHA256", true, s: key, psks: [psk]);
        string[] texts = [key.ToString(), state.ToString()];
        foreach (string text in texts)
        {
            Assert.DoesNotContain(Convert.ToHexString(key.PrivateKey), text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(Convert.ToHexString(key.PublicKey), text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(Convert.ToHexString(psk), text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(Convert.ToBase64String(key.PrivateKey), text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Disposed_key_pair_zeroes_and_refuses_private_key()
    {
        NoiseKeyPair key = NoiseKeyPair.Generate();
        byte[] publicKey = key.PublicKey.ToArray();
        key.Dispose();
        Assert.Throws<ObjectDisposedException>(() => key.PrivateKey.ToArray());
        Assert.Equal(publicKey, key.PublicKey.ToArray());
    }

    [Fact]
    public void Caller_keys_are_copied_not_consumed()
    {
        using NoiseKeyPair initiatorStatic = NoiseKeyPair.Generate();
        using NoiseKeyPair responderStatic = NoiseKeyPair.Generate();
        using (var initiator = NoiseHandshakeState.Initialize("Noise_XX_25519_ChaChaPoly_SHA256", true, s: initiatorStatic))
        {
            _ = initiator.WriteMessage([]);
        }

        // Disposing the handshake did not dispose the caller's key pair.
        Assert.Equal(32, initiatorStatic.PrivateKey.Length);
        Assert.NotEqual(new byte[32], initiatorStatic.PrivateKey.ToArray());
    }

    private static void AssertCompletedAndTalking(
        NoiseHandshakeState initiator,
        NoiseHandshakeState responder,
        NoiseKeyPair initiatorStatic,
        NoiseKeyPair responderStatic)
    {
        Assert.True(initiator.IsCompleted);
        Assert.True(responder.IsCompleted);
        Assert.Equal(initiator.GetHandshakeHash(), responder.GetHandshakeHash());

        using NoiseTransport it = initiator.ToTransport();
        using NoiseTransport rt = responder.ToTransport();
        Assert.Equal(responderStatic.PublicKey.ToArray(), it.RemoteStaticPublicKey.ToArray());
        Assert.Equal(initiatorStatic.PublicKey.ToArray(), rt.RemoteStaticPublicKey.ToArray());
        Assert.Equal(it.HandshakeHash.ToArray(), rt.HandshakeHash.ToArray());
        Assert.Equal(32, it.HandshakeHash.Length);

        for (int i = 0; i < 5; i++)
        {
            byte[] fromInitiator = RandomNumberGenerator.GetBytes(10 + i);
            byte[] fromResponder = RandomNumberGenerator.GetBytes(1000 + i);
            Assert.Equal(fromInitiator, rt.Decrypt(it.Encrypt(fromInitiator)));
            Assert.Equal(fromResponder, it.Decrypt(rt.Encrypt(fromResponder)));
        }

        // Span path with a reused buffer.
        byte[] payload = RandomNumberGenerator.GetBytes(64);
        byte[] wire = new byte[payload.Length + NoiseConstants.TagLength];
        byte[] back = new byte[payload.Length];
        Assert.Equal(wire.Length, it.Encrypt(payload, wire));
        Assert.Equal(payload.Length, rt.Decrypt(wire, back));
        Assert.Equal(payload, back);
        Assert.Equal(6UL, it.SendCipher.Nonce);
        Assert.Equal(6UL, rt.ReceiveCipher.Nonce);

        // A replayed message is rejected (the nonce moved on).
        Assert.Throws<NoiseException>(() => rt.Decrypt(wire, back));
    }
}
