using System.Security.Cryptography;
using Messenger.Security.Noise;
using Xunit;

namespace Messenger.Tests.Security;

public sealed class NoiseCipherStateTests
{
    private static readonly byte[] Key = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void Tampered_ciphertext_throws_NoiseException_and_keeps_nonce(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        using var sender = new NoiseCipherState(cipher, Key);
        using var receiver = new NoiseCipherState(cipher, Key);
        byte[] ciphertext = sender.Encrypt("hello noise"u8);

        for (int position = 0; position < ciphertext.Length; position++)
        {
            byte[] tampered = (byte[])ciphertext.Clone();
            tampered[position] ^= 0x01;
            Assert.Throws<NoiseException>(() => receiver.Decrypt(tampered));
            Assert.Equal(0UL, receiver.Nonce);
        }

        Assert.Throws<NoiseException>(() => receiver.DecryptWithAd("other ad"u8, ciphertext));
        Assert.Equal("hello noise"u8.ToArray(), receiver.Decrypt(ciphertext));
        Assert.Equal(1UL, receiver.Nonce);
    }

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void Failed_span_decrypt_leaves_no_plaintext(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        using var sender = new NoiseCipherState(cipher, Key);
        using var receiver = new NoiseCipherState(cipher, Key);
        byte[] ciphertext = sender.Encrypt(new byte[64]);
        ciphertext[^1] ^= 0x80;
        byte[] output = [.. Enumerable.Repeat((byte)0xAA, 64)];
        Assert.Throws<NoiseException>(() => receiver.Decrypt(ciphertext, output));
        Assert.All(output, b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void Truncated_or_oversized_ciphertext_throws(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        using var receiver = new NoiseCipherState(cipher, Key);
        Assert.Throws<NoiseException>(() => receiver.Decrypt(new byte[15]));
        Assert.Throws<NoiseException>(() => receiver.Decrypt(new byte[NoiseConstants.MaxMessageLength + 1]));
        Assert.Throws<NoiseException>(() => receiver.Decrypt(new byte[40], new byte[10]));
        Assert.Equal(0UL, receiver.Nonce);
    }

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void Nonce_increments_per_message_and_must_match(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        using var sender = new NoiseCipherState(cipher, Key);
        using var receiver = new NoiseCipherState(cipher, Key);
        Assert.Equal(0UL, sender.Nonce);
        byte[] first = sender.Encrypt("same"u8);
        Assert.Equal(1UL, sender.Nonce);
        byte[] second = sender.Encrypt("same"u8);
        Assert.Equal(2UL, sender.Nonce);
        Assert.NotEqual(first, second);

        // Out of order: nonce 0 expected, message 1 given.
        Assert.Throws<NoiseException>(() => receiver.Decrypt(second));
        Assert.Equal("same"u8.ToArray(), receiver.Decrypt(first));
        Assert.Equal("same"u8.ToArray(), receiver.Decrypt(second));
        Assert.Equal(2UL, receiver.Nonce);

        // SetNonce allows explicit positioning (e.g. for a replayed-check-free datagram transport).
        receiver.SetNonce(1);
        Assert.Equal("same"u8.ToArray(), receiver.Decrypt(second));
    }

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void Nonce_exhaustion_throws(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        using var sender = new NoiseCipherState(cipher, Key);
        sender.SetNonce(ulong.MaxValue - 1);
        _ = sender.Encrypt("last"u8);
        Assert.Equal(ulong.MaxValue, sender.Nonce);
        Assert.Throws<NoiseException>(() => sender.Encrypt("too many"u8));
        Assert.Throws<NoiseException>(() => sender.Decrypt(new byte[32]));
    }

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void Span_overloads_work_in_place_and_match_array_overloads(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        using var arraySender = new NoiseCipherState(cipher, Key);
        using var spanSender = new NoiseCipherState(cipher, Key);
        using var receiver = new NoiseCipherState(cipher, Key);
        byte[] payload = RandomNumberGenerator.GetBytes(100);

        byte[] expected = arraySender.Encrypt(payload);
        byte[] buffer = new byte[payload.Length + NoiseConstants.TagLength];
        payload.CopyTo(buffer, 0);
        int written = spanSender.Encrypt(buffer.AsSpan(0, payload.Length), buffer);
        Assert.Equal(expected.Length, written);
        Assert.Equal(expected, buffer);

        int read = receiver.Decrypt(buffer, buffer);
        Assert.Equal(payload.Length, read);
        Assert.Equal(payload, buffer.AsSpan(0, read).ToArray());
    }

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void Span_overloads_do_not_allocate(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        using var sender = new NoiseCipherState(cipher, Key);
        using var receiver = new NoiseCipherState(cipher, Key);
        byte[] payload = new byte[64];
        byte[] message = new byte[payload.Length + NoiseConstants.TagLength];
        byte[] output = new byte[payload.Length];
        for (int i = 0; i < 10; i++)
        {
            sender.Encrypt(payload, message);
            receiver.Decrypt(message, output);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            sender.Encrypt(payload, message);
            receiver.Decrypt(message, output);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void Message_limit_is_65535_bytes(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        using var sender = new NoiseCipherState(cipher, Key);
        using var receiver = new NoiseCipherState(cipher, Key);
        byte[] max = sender.Encrypt(new byte[NoiseConstants.MaxPayloadLength]);
        Assert.Equal(NoiseConstants.MaxMessageLength, max.Length);
        Assert.Equal(NoiseConstants.MaxPayloadLength, receiver.Decrypt(max).Length);
        Assert.Throws<NoiseException>(() => sender.Encrypt(new byte[NoiseConstants.MaxPayloadLength + 1]));
        Assert.Equal(1UL, sender.Nonce);
    }

    [Theory]
    [InlineData(nameof(NoiseCipher.ChaChaPoly))]
    [InlineData(nameof(NoiseCipher.AesGcm))]
    public void Rekey_changes_key_consistently_and_keeps_nonce(string cipherName)
    {
        NoiseCipher cipher = Enum.Parse<NoiseCipher>(cipherName);
        using var sender = new NoiseCipherState(cipher, Key);
        using var receiver = new NoiseCipherState(cipher, Key);
        using var stale = new NoiseCipherState(cipher, Key);
        _ = receiver.Decrypt(sender.Encrypt("one"u8));
        stale.SetNonce(1);

        sender.Rekey();
        receiver.Rekey();
        Assert.Equal(1UL, sender.Nonce);
        byte[] message = sender.Encrypt("two"u8);
        Assert.Throws<NoiseException>(() => stale.Decrypt(message));
        Assert.Equal("two"u8.ToArray(), receiver.Decrypt(message));
    }

    [Fact]
    public void Without_key_data_passes_through_and_rekey_is_refused()
    {
        using var cipherState = new NoiseCipherState(NoiseCipher.ChaChaPoly);
        Assert.False(cipherState.HasKey);
        Assert.Equal("clear"u8.ToArray(), cipherState.EncryptWithAd("ad"u8, "clear"u8));
        Assert.Equal("clear"u8.ToArray(), cipherState.DecryptWithAd("ad"u8, "clear"u8));
        Assert.Equal(0UL, cipherState.Nonce);
        Assert.Throws<NoiseException>(cipherState.Rekey);
    }

    [Fact]
    public void Bad_key_length_throws_and_ToString_hides_key()
    {
        using var cipherState = new NoiseCipherState(NoiseCipher.AesGcm);
        Assert.Throws<NoiseException>(() => cipherState.InitializeKey(new byte[16]));
        cipherState.InitializeKey(Key);
        string text = cipherState.ToString();
        Assert.DoesNotContain(Convert.ToHexString(Key), text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(Convert.ToBase64String(Key), text, StringComparison.Ordinal);
        Assert.Contains("AesGcm", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Disposed_state_refuses_use()
    {
        var cipherState = new NoiseCipherState(NoiseCipher.ChaChaPoly, Key);
        cipherState.Dispose();
        Assert.Throws<ObjectDisposedException>(() => cipherState.Encrypt("x"u8));
    }

    [Fact]
    public void Split_gives_a_working_and_distinct_pair()
    {
        byte[] name = "Noise_NN_25519_ChaChaPoly_SHA256"u8.ToArray();
        using var a = new NoiseSymmetricState(NoiseCipher.ChaChaPoly, name);
        using var b = new NoiseSymmetricState(NoiseCipher.ChaChaPoly, name);
        a.MixHash("prologue"u8);
        b.MixHash("prologue"u8);
        a.MixKey(Key);
        b.MixKey(Key);
        byte[] handshakeCiphertext = a.EncryptAndHash("payload"u8);
        Assert.Equal("payload"u8.ToArray(), b.DecryptAndHash(handshakeCiphertext));
        Assert.Equal(a.GetHandshakeHash(), b.GetHandshakeHash());

        (NoiseCipherState a1, NoiseCipherState a2) = a.Split();
        (NoiseCipherState b1, NoiseCipherState b2) = b.Split();
        using (a1)
        using (a2)
        using (b1)
        using (b2)
        {
            Assert.True(a1.HasKey && a2.HasKey && b1.HasKey && b2.HasKey);
            Assert.Equal("i->r"u8.ToArray(), b1.Decrypt(a1.Encrypt("i->r"u8)));
            Assert.Equal("r->i"u8.ToArray(), a2.Decrypt(b2.Encrypt("r->i"u8)));

            // c1 and c2 hold different keys.
            Assert.Throws<NoiseException>(() => b2.Decrypt(a1.Encrypt("cross"u8)));
        }
    }

    [Fact]
    public void DecryptAndHash_failure_leaves_hash_unchanged()
    {
        byte[] name = "Noise_NN_25519_AESGCM_SHA256"u8.ToArray();
        using var a = new NoiseSymmetricState(NoiseCipher.AesGcm, name);
        using var b = new NoiseSymmetricState(NoiseCipher.AesGcm, name);
        a.MixKey(Key);
        b.MixKey(Key);
        byte[] ciphertext = a.EncryptAndHash("x"u8);
        byte[] before = b.GetHandshakeHash();
        ciphertext[0] ^= 1;
        Assert.Throws<NoiseException>(() => b.DecryptAndHash(ciphertext));
        Assert.Equal(before, b.GetHandshakeHash());
    }

    /// <summary>Small AES-GCM messages are sealed by the processor's instructions, larger ones by the system's
    /// AesGcm: on both sides of the limit, what the state seals opens with the system's AesGcm under Noise's nonce
    /// (four zero bytes, then n big-endian), and what that seals opens with the state.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(64)]
    [InlineData(NoiseCipherState.SmallMessageLimit)]
    [InlineData(NoiseCipherState.SmallMessageLimit + 1)]
    [InlineData(5000)]
    public void AesGcm_messages_agree_with_the_system_implementation_on_both_sides_of_the_small_limit(int length)
    {
        using var sender = new NoiseCipherState(NoiseCipher.AesGcm, Key);
        using var receiver = new NoiseCipherState(NoiseCipher.AesGcm, Key);
        using var system = new AesGcm(Key, 16);
        var plaintext = RandomNumberGenerator.GetBytes(length);
        var ad = "frame header"u8.ToArray();
        for (ulong n = 0; n < 3; n++)
        {
            var nonce = new byte[12];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(nonce.AsSpan(4), n);

            var sealedByState = sender.EncryptWithAd(ad, plaintext);
            var opened = new byte[length];
            system.Decrypt(nonce, sealedByState.AsSpan(0, length), sealedByState.AsSpan(length), opened, ad);
            Assert.Equal(plaintext, opened);

            var sealedBySystem = new byte[length + 16];
            system.Encrypt(nonce, plaintext, sealedBySystem.AsSpan(0, length), sealedBySystem.AsSpan(length), ad);
            Assert.Equal(plaintext, receiver.DecryptWithAd(ad, sealedBySystem));
        }
    }
}
