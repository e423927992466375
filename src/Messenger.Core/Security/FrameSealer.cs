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
        _cipher = cipher;
        _cipher.MaxMessageLength = int.MaxValue;
    }

    public static FrameSealer FromKey(ReadOnlySpan<byte> key) => new(new NoiseCipherState(MessengerHandshake.Cipher, key));

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

    public static FrameOpener FromKey(ReadOnlySpan<byte> key) => new(new NoiseCipherState(MessengerHandshake.Cipher, key));

    /// <summary>Returns the inner frame; throws <see cref="ProtocolException"/> for a replay or a bad tag.</summary>
    public byte[] Open(ReadOnlySpan<byte> frame, int prefixLength)
    {
        var adLength = prefixLength + 8;
        if (frame.Length < adLength + FrameSealer.TagLength) throw new ProtocolException("sealed frame truncated");
        var counter = BinaryPrimitives.ReadUInt64LittleEndian(frame[prefixLength..]);
        if (counter < _next) throw new ProtocolException($"replayed or reordered frame (counter {counter}, expected at least {_next})");
        // Every byte is written by the decryption: no need to zero a batch frame of up to 64 KiB first.
        var inner = GC.AllocateUninitializedArray<byte>(frame.Length - adLength - FrameSealer.TagLength);
        _cipher.SetNonce(counter);
        try
        {
            _cipher.DecryptWithAd(frame[..adLength], frame[adLength..], inner);
        }
        catch (NoiseException)
        {
            throw new ProtocolException("sealed frame failed authentication");
        }
        _next = counter + 1;
        return inner;
    }

    /// <summary>Opens the sealed frame in <paramref name="frame"/> in place: the inner frame is decrypted over its
    /// own ciphertext, and <paramref name="inner"/> is that part of the same array, so that a batch frame is neither
    /// copied nor allocated again. False, leaving the frame's bytes undefined, for a truncated frame, a replay or a
    /// bad tag: without an exception for the first two.</summary>
    public bool TryOpenInPlace(ArraySegment<byte> frame, int prefixLength, out ArraySegment<byte> inner)
    {
        inner = default;
        var adLength = prefixLength + 8;
        var span = frame.AsSpan();
        if (span.Length < adLength + FrameSealer.TagLength) return false;
        var counter = BinaryPrimitives.ReadUInt64LittleEndian(span[prefixLength..]);
        if (counter < _next) return false;
        var length = span.Length - adLength - FrameSealer.TagLength;
        _cipher.SetNonce(counter);
        try
        {
            _cipher.DecryptWithAd(span[..adLength], span[adLength..], span.Slice(adLength, length));
        }
        catch (NoiseException)
        {
            return false;
        }
        _next = counter + 1;
        inner = frame.Slice(adLength, length);
        return true;
    }

    public void Dispose() => _cipher.Dispose();
}
