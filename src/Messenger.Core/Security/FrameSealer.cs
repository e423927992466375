using System.Buffers.Binary;
using Messenger.Protocol;
using Messenger.Security.Noise;

namespace Messenger.Security;

/// <summary>
/// Seals frames in one direction: <c>prefix | counter u64 | AEAD(inner frame) | tag</c>, with the prefix and
/// counter as associated data. The counter is the AEAD nonce and never repeats under one key. Only the thread that
/// owns the connection (the poller) calls it.
/// </summary>
internal sealed class FrameSealer : IDisposable
{
    public const int TagLength = NoiseConstants.TagLength;

    private readonly NoiseCipherState _cipher;

    public FrameSealer(NoiseCipherState cipher)
    {
        // Without a key, EncryptWithAd copies without a tag: a frame would be shorter than SealedLength says, and the
        // rest of its (pooled, uninitialized) NetMQ buffer would go on the wire.
        if (!cipher.HasKey) throw new ArgumentException("a frame sealer needs a keyed cipher state", nameof(cipher));
        _cipher = cipher;
        _cipher.MaxMessageLength = int.MaxValue;
    }

    public static FrameSealer FromKey(NoiseCipher cipher, ReadOnlySpan<byte> key) => new(new NoiseCipherState(cipher, key));

    /// <summary>Seals with a finished handshake's send key under the session's negotiated cipher.</summary>
    public static FrameSealer ForSession(NoiseCipherState sendCipher, NoiseCipher cipher) =>
        new(sendCipher.ConvertTo(cipher));

    public NoiseCipher Cipher => _cipher.Cipher;

    /// <summary>Writes the sealed frame: <paramref name="prefix"/> (header, and sender id for broadcasts), the
    /// counter, the ciphertext. Returns its length.</summary>
    public int Seal(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> inner, Span<byte> output)
    {
        var adLength = prefix.Length + 8;
        prefix.CopyTo(output);
        BinaryPrimitives.WriteUInt64LittleEndian(output[prefix.Length..], _cipher.Nonce);
        var n = _cipher.EncryptWithAd(output[..adLength], inner, output[adLength..]);
        return adLength + n;
    }

    public static int SealedLength(int prefixLength, int innerLength) => prefixLength + 8 + innerLength + TagLength;

    public void Dispose() => _cipher.Dispose();
}

/// <summary>Opens frames sealed by the peer's <see cref="FrameSealer"/>. Counters must grow strictly: a replayed
/// or reordered frame is refused, and so is any frame whose tag does not verify.</summary>
internal sealed class FrameOpener : IDisposable
{
    private readonly NoiseCipherState _cipher;
    private ulong _next;

    public FrameOpener(NoiseCipherState cipher)
    {
        _cipher = cipher;
        _cipher.MaxMessageLength = int.MaxValue;
    }

    public static FrameOpener FromKey(NoiseCipher cipher, ReadOnlySpan<byte> key) => new(new NoiseCipherState(cipher, key));

    /// <summary>Opens with a finished handshake's receive key under the session's negotiated cipher.</summary>
    public static FrameOpener ForSession(NoiseCipherState receiveCipher, NoiseCipher cipher) =>
        new(receiveCipher.ConvertTo(cipher));

    public NoiseCipher Cipher => _cipher.Cipher;

    /// <summary>Returns the inner frame, in an array of its own; throws <see cref="ProtocolException"/> for a
    /// truncated frame, a replay or a bad tag.</summary>
    public byte[] Open(ReadOnlySpan<byte> frame, int prefixLength)
    {
        var length = InnerLength(frame, prefixLength);
        if (length < 0) throw new ProtocolException("sealed frame truncated");
        // Every byte is written by the decryption: no need to zero a batch frame of up to 64 KiB first.
        var inner = GC.AllocateUninitializedArray<byte>(length);
        if (!TryDecrypt(frame, prefixLength, inner)) throw new ProtocolException("sealed frame replayed, reordered or failing authentication");
        return inner;
    }

    /// <summary>Opens the sealed frame in <paramref name="frame"/> in place: the inner frame is decrypted over its
    /// own ciphertext, and <paramref name="inner"/> is that part of the same array, so that a batch frame is neither
    /// copied nor allocated again. False, leaving the frame's bytes undefined, for a truncated frame, a replay or a
    /// bad tag: without an exception for the first two.</summary>
    public bool TryOpenInPlace(ArraySegment<byte> frame, int prefixLength, out ArraySegment<byte> inner)
    {
        var length = InnerLength(frame, prefixLength);
        inner = length < 0 ? default : frame.Slice(prefixLength + 8, length);
        return length >= 0 && TryDecrypt(frame, prefixLength, inner);
    }

    // The inner frame's length: the frame less its prefix, counter and tag; negative when it is too short.
    private static int InnerLength(ReadOnlySpan<byte> frame, int prefixLength) => frame.Length - prefixLength - 8 - FrameSealer.TagLength;

    // Checks the counter and decrypts into plaintext, which may be the frame's own ciphertext (in place).
    private bool TryDecrypt(ReadOnlySpan<byte> frame, int prefixLength, Span<byte> plaintext)
    {
        var adLength = prefixLength + 8;
        var counter = BinaryPrimitives.ReadUInt64LittleEndian(frame[prefixLength..]);
        if (counter < _next) return false;
        _cipher.SetNonce(counter);
        try
        {
            _cipher.DecryptWithAd(frame[..adLength], frame[adLength..], plaintext);
        }
        catch (NoiseException)
        {
            return false;
        }
        _next = counter + 1;
        return true;
    }

    public void Dispose() => _cipher.Dispose();
}
