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

    /// <summary><see cref="IsValidName(string?)"/> on the UTF-8 bytes of a received name, without making a string.</summary>
    public static bool IsValidName(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty || name.Length > MaxNameBytes) return false;
        foreach (var b in name)
        {
            if (!(char.IsAsciiLetterOrDigit((char)b) || b is (byte)'.' or (byte)'_' or (byte)'-')) return false;
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
    public static FrameType ReadEnvelope(ReadOnlySpan<byte> frame) => Read(frame, SecureVersion);

    /// <summary>The exception-free form of <see cref="ReadEnvelope"/>, for the hot inbound path: the envelope's
    /// type, or why the frame is not a protocol 2 envelope.</summary>
    public static RejectReason CheckEnvelope(ReadOnlySpan<byte> frame, out FrameType type) => Check(frame, SecureVersion, out type);

    /// <summary>True for a REFUSE of either protocol: it is read whatever version the reader speaks, so that a
    /// refusal between a secure and an insecure node still says why.</summary>
    public static bool IsRefuse(ReadOnlySpan<byte> frame) =>
        frame.Length >= HeaderSize && frame[0] == Magic && frame[1] is Version or SecureVersion && frame[2] == (byte)FrameType.Refuse;

    /// <summary>Reads the header of a frame; a frame of another magic, version or an unknown type is a protocol error.</summary>
    public static FrameType ReadHeader(ReadOnlySpan<byte> frame) => Read(frame, Version);

    /// <summary>The exception-free form of <see cref="ReadHeader"/> (protocol 1 frames): the type, or why the
    /// header is not one.</summary>
    public static RejectReason CheckHeader(ReadOnlySpan<byte> frame, out FrameType type) => Check(frame, Version, out type);

    private static FrameType Read(ReadOnlySpan<byte> frame, byte version)
    {
        var reason = Check(frame, version, out var type);
        return reason == RejectReason.None ? type : throw new ProtocolException(Describe(reason, frame, version));
    }

    /// <summary>The checks of a header: its length, magic, version (protocol 1 frames, or protocol 2 envelopes), and
    /// a type of that version. No exception and no allocation: this runs for every frame a stranger sends.</summary>
    private static RejectReason Check(ReadOnlySpan<byte> frame, byte version, out FrameType type)
    {
        type = default;
        if (frame.Length < HeaderSize) return RejectReason.Truncated;
        if (frame[0] != Magic) return RejectReason.BadMagic;
        if (frame[1] != version) return RejectReason.BadVersion;
        type = (FrameType)frame[2];
        var known = version == SecureVersion
            ? type is FrameType.Hello or FrameType.Handshake or FrameType.Sealed or FrameType.SealedBroadcast or FrameType.Refuse or FrameType.Reset
            : IsDefined(type);
        return known ? RejectReason.None : RejectReason.UnknownType;
    }

    private static readonly bool[] s_defined = DefinedTypes();

    /// <summary>True for the frame types of protocol 1 (not its envelopes of protocol 2): a table lookup, as this
    /// runs per frame.</summary>
    public static bool IsDefined(FrameType type) => s_defined[(byte)type];

    private static bool[] DefinedTypes()
    {
        var table = new bool[256];
        foreach (var t in Enum.GetValues<FrameType>()) table[(byte)t] = t is not (FrameType.Handshake or FrameType.Sealed or FrameType.SealedBroadcast);
        return table;
    }

    /// <summary>The text of a header check's failure, for the exceptions of the throwing readers (made only when
    /// one is thrown).</summary>
    private static string Describe(RejectReason reason, ReadOnlySpan<byte> frame, byte expectedVersion) => reason switch
    {
        RejectReason.Truncated => $"frame of {frame.Length} bytes is shorter than a header",
        RejectReason.BadMagic => "bad magic byte",
        RejectReason.BadVersion when expectedVersion == SecureVersion => $"protocol version {frame[1]} where this node speaks {SecureVersion} (encrypted)",
        RejectReason.BadVersion => $"unsupported protocol version {frame[1]}",
        RejectReason.UnknownType when expectedVersion == SecureVersion => $"frame type 0x{frame[2]:x2} is not a protocol 2 envelope",
        _ => $"unknown frame type 0x{frame[2]:x2}",
    };

    public static long UnixMicros(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    public static DateTimeOffset FromUnixMicros(long micros) => new(UtcFromUnixMicros(micros), TimeSpan.Zero);

    private static readonly long s_maxUnixMicros = (DateTime.MaxValue.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    /// <summary>A sender's clock reading as a UTC time; one outside what DateTime holds (a peer's clock or bug
    /// is not to be trusted) is clamped rather than thrown on the poller thread.</summary>
    public static DateTime UtcFromUnixMicros(long micros) =>
        DateTime.UnixEpoch.AddTicks(Math.Clamp(micros, 0, s_maxUnixMicros) * 10);

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
