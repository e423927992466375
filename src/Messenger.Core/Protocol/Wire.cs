using System.Buffers.Binary;
using System.Text;

namespace Messenger.Protocol;

/// <summary>Constants and field rules of the wire protocol (docs/PROTOCOL.md).</summary>
internal static class Wire
{
    public const byte Magic = 0x4D; // 'M'
    /// <summary>Protocol 1: plaintext frames. In protocol 2 they travel inside SEALED envelopes.</summary>
    public const byte Version = 1;

    /// <summary>Protocol 2: the Noise handshake and sealed envelopes.</summary>
    public const byte SecureVersion = 2;
    public const int HeaderSize = 3;
    public const int NodeIdSize = 16;
    public const int MaxNameBytes = 64;
    public const int MaxTopicBytes = 255;
    public const int MaxPeersPerList = 1024;

    /// <summary>Per message in a DATA or BROADCAST batch: flags, content type, sequence, sent-at, body length.</summary>
    public const int RecordFixedSize = 1 + 1 + 8 + 8 + 4;

    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Names of nodes and clusters: 1-64 characters of ASCII letters, digits, '.', '_' and '-'.</summary>
    public static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameBytes) return false;
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')) return false;
        }
        return true;
    }

    public static void WriteHeader(Span<byte> destination, FrameType type, byte version = Version)
    {
        destination[0] = Magic;
        destination[1] = version;
        destination[2] = (byte)type;
    }

    /// <summary>Reads the header of a protocol 2 envelope (HELLO, HANDSHAKE, SEALED, SEALED_BROADCAST, REFUSE, RESET).</summary>
    public static FrameType ReadEnvelope(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < HeaderSize) throw new ProtocolException($"frame of {frame.Length} bytes is shorter than a header");
        if (frame[0] != Magic) throw new ProtocolException("bad magic byte");
        if (frame[1] != SecureVersion) throw new ProtocolException($"protocol version {frame[1]} where this node speaks {SecureVersion} (encrypted)");
        var type = (FrameType)frame[2];
        return type is FrameType.Hello or FrameType.Handshake or FrameType.Sealed or FrameType.SealedBroadcast or FrameType.Refuse or FrameType.Reset
            ? type
            : throw new ProtocolException($"frame type 0x{frame[2]:x2} is not a protocol 2 envelope");
    }

    /// <summary>The version byte of a frame, or 0 when it is too short to have one.</summary>
    public static byte PeekVersion(ReadOnlySpan<byte> frame) => frame.Length >= HeaderSize && frame[0] == Magic ? frame[1] : (byte)0;

    /// <summary>True for a REFUSE of either protocol: it is read whatever version the reader speaks, so that a
    /// refusal between a secure and an insecure node still says why.</summary>
    public static bool IsRefuse(ReadOnlySpan<byte> frame) =>
        frame.Length >= HeaderSize && frame[0] == Magic && frame[1] is Version or SecureVersion && frame[2] == (byte)FrameType.Refuse;

    /// <summary>Reads the header of a frame; a frame of another magic, version or an unknown type is a protocol error.</summary>
    public static FrameType ReadHeader(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < HeaderSize) throw new ProtocolException($"frame of {frame.Length} bytes is shorter than a header");
        if (frame[0] != Magic) throw new ProtocolException("bad magic byte");
        if (frame[1] != Version) throw new ProtocolException($"unsupported protocol version {frame[1]}");
        var type = (FrameType)frame[2];
        if (!Enum.IsDefined(type)) throw new ProtocolException($"unknown frame type 0x{frame[2]:x2}");
        return type;
    }

    public static long UnixMicros(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    public static DateTimeOffset FromUnixMicros(long micros) => DateTimeOffset.UnixEpoch.AddTicks(micros * 10);

    public static int Str8Size(string value) => 1 + Encoding.UTF8.GetByteCount(value);

    public static int WriteStr8(Span<byte> destination, string value)
    {
        var n = Encoding.UTF8.GetBytes(value, destination[1..]);
        if (n > 255) throw new ArgumentException("string longer than 255 bytes", nameof(value));
        destination[0] = (byte)n;
        return 1 + n;
    }

    public static void WriteU16(Span<byte> d, int v) => BinaryPrimitives.WriteUInt16LittleEndian(d, checked((ushort)v));
}
