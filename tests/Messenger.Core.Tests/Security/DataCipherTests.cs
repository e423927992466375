using Messenger.Protocol;
using Messenger.Security;
using Messenger.Security.Noise;
using Messenger.Tests.Support;

namespace Messenger.Tests.Security;

/// <summary>The data path's AEAD: each node states its preference inside the handshake, a link uses AES-256-GCM
/// when both ends prefer it, else ChaCha20-Poly1305, and a node seals its broadcasts with its own preference.</summary>
public sealed class DataCipherTests
{
    private static readonly byte[] Key = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];

    [Theory]
    [InlineData(MessengerCipher.Aes256Gcm, MessengerCipher.Aes256Gcm, MessengerCipher.Aes256Gcm)]
    [InlineData(MessengerCipher.Aes256Gcm, MessengerCipher.ChaCha20Poly1305, MessengerCipher.ChaCha20Poly1305)]
    [InlineData(MessengerCipher.ChaCha20Poly1305, MessengerCipher.Aes256Gcm, MessengerCipher.ChaCha20Poly1305)]
    [InlineData(MessengerCipher.ChaCha20Poly1305, MessengerCipher.ChaCha20Poly1305, MessengerCipher.ChaCha20Poly1305)]
    public async Task A_link_uses_AES_GCM_only_when_both_ends_prefer_it_and_carries_everything_either_way(MessengerCipher atA, MessengerCipher atB, MessengerCipher expected)
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { Cipher = atA });
        var b = await cluster.StartAsync("b", o => o with { Cipher = atB });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        Assert.Equal(expected, a.GetPeer("b")!.Cipher);
        Assert.Equal(expected, b.GetPeer("a")!.Cipher);

        // Unicast goes on the link, then on the data connection the first message opens (a direct send); each is
        // read before the next goes, so that the link is idle again. Broadcasts are sealed with the sender's own
        // preference.
        var sent = 0;
        do
        {
            await a.SendAsync("b", $"a->b {++sent}");
            Assert.Equal($"a->b {sent}", (await TestCluster.ReadAsync(b, 1))[0].GetText());
        }
        while (a.Statistics.MessagesSentDirect == 0 && sent < 1000);
        Assert.True(a.Statistics.MessagesSentDirect > 0, $"no direct send over the data connection in {sent} messages");
        await a.SendAsync("b", "a->b direct");
        await b.SendAsync("a", "b->a");
        await a.BroadcastAsync("a to all");
        await b.BroadcastAsync("b to all");
        Assert.Equal(["a to all", "a->b direct"], (await TestCluster.ReadAsync(b, 2)).Select(m => m.GetText()).Order(StringComparer.Ordinal));
        Assert.Equal(["b to all", "b->a"], (await TestCluster.ReadAsync(a, 2)).Select(m => m.GetText()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task By_default_a_node_prefers_AES_GCM_where_the_processor_has_AES_instructions()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        Assert.Equal(DataCipher.HasAesInstructions ? MessengerCipher.Aes256Gcm : MessengerCipher.ChaCha20Poly1305, a.GetPeer("b")!.Cipher);
    }

    [Fact]
    public async Task An_insecure_node_has_no_cipher_and_an_unknown_setting_fails_the_start()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { Insecure = true, ClusterKey = null });
        var b = await cluster.StartAsync("b", o => o with { Insecure = true, ClusterKey = null });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        Assert.Null(a.GetPeer("b")!.Cipher);

        var e = await Assert.ThrowsAsync<MessengerConfigurationException>(() => cluster.StartAsync("c", o => o with { Cipher = (MessengerCipher)7 }));
        Assert.Equal("Cipher", e.Option);
        e = await Assert.ThrowsAsync<MessengerConfigurationException>(() => cluster.StartAsync("d", o => o with { Insecure = true, Cipher = MessengerCipher.Aes256Gcm }));
        Assert.Equal("Cipher", e.Option);
    }

    [Fact]
    public void The_preference_travels_in_the_handshake_payload_which_must_carry_it()
    {
        var dataFor = new byte[32];
        dataFor[0] = 9;
        var withAll = ControlFrames.ReadPayload(ControlFrames.Payload(new HandshakePayload("a", "127.0.0.1", 1, 2, Key, dataFor, NoiseCipher.AesGcm)), withKey: true);
        Assert.Equal(NoiseCipher.AesGcm, withAll.Cipher);
        Assert.Equal(dataFor, withAll.DataFor);
        Assert.Equal(NoiseCipher.ChaChaPoly, ControlFrames.ReadPayload(ControlFrames.Payload(new HandshakePayload("a", "h", 1, 2, null, null, NoiseCipher.ChaChaPoly)), withKey: false).Cipher);

        var fixedPart = ControlFrames.Payload(new HandshakePayload("a", "h", 1, 2, null))[..^2];
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadPayload(fixedPart, withKey: false)); // no cipher field

        var payload = ControlFrames.Payload(new HandshakePayload("a", "h", 1, 2, null, null, NoiseCipher.AesGcm));
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadPayload([.. payload[..^1], 3], withKey: false)); // unknown cipher
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadPayload([.. payload, ControlFrames.FieldCipher, 1], withKey: false)); // twice
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadPayload([.. payload, 0x7f], withKey: false)); // unknown field
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadPayload(payload.AsSpan(..^1), withKey: false)); // cut short
    }

    [Fact]
    public void WELCOME_carries_the_broadcast_cipher_beside_the_broadcast_key()
    {
        var id = NodeId.NewRandom();
        var read = ControlFrames.ReadWelcome(ControlFrames.Welcome(new WelcomeFrame(id, "b", 1, 2, 1024, Key, NoiseCipher.AesGcm)), secure: true);
        Assert.Equal((id, "b", NoiseCipher.AesGcm), (read.Id, read.Name, read.BroadcastCipher));
        Assert.Equal(Key, read.BroadcastKey);
        var frame = ControlFrames.Welcome(new WelcomeFrame(id, "b", 1, 2, 1024, Key, NoiseCipher.ChaChaPoly));
        Assert.Equal(NoiseCipher.ChaChaPoly, ControlFrames.ReadWelcome(frame, secure: true).BroadcastCipher);
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadWelcome([.. frame[..^1], 0], secure: true));
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadWelcome(frame.AsSpan(..^1), secure: true));
        Assert.Null(ControlFrames.ReadWelcome(ControlFrames.Welcome(new WelcomeFrame(id, "b", 1, 2, 1024)), secure: false).BroadcastKey);
    }

    [Fact]
    public void A_session_key_converted_to_AES_GCM_seals_as_AES_GCM_under_that_key_and_the_old_state_is_gone()
    {
        var chacha = new NoiseCipherState(NoiseCipher.ChaChaPoly, Key);
        var sealer = FrameSealer.ForSession(chacha, NoiseCipher.AesGcm);
        using var opener = FrameOpener.FromKey(NoiseCipher.AesGcm, Key);
        Assert.Equal(NoiseCipher.AesGcm, sealer.Cipher);
        Assert.Throws<ObjectDisposedException>(() => chacha.Encrypt("x"u8));

        byte[] prefix = [1, 2, 3];
        var inner = "a batch"u8.ToArray();
        var sealedFrame = new byte[FrameSealer.SealedLength(prefix.Length, inner.Length)];
        sealer.Seal(prefix, inner, sealedFrame);
        Assert.Equal(inner, opener.Open(sealedFrame, prefix.Length));
        using var wrong = FrameOpener.FromKey(NoiseCipher.ChaChaPoly, Key);
        Assert.Throws<ProtocolException>(() => wrong.Open(sealedFrame, prefix.Length));
        sealer.Dispose();

        using var used = new NoiseCipherState(NoiseCipher.ChaChaPoly, Key);
        used.Encrypt("x"u8);
        Assert.Throws<NoiseException>(() => used.ConvertTo(NoiseCipher.AesGcm));
    }
}
