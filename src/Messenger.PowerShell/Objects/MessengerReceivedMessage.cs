using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell;

/// <summary>A message as Receive-MessengerMessage outputs it. <see cref="Body"/> is a string for text, a byte
/// array for binary bodies, and the PowerShell object (PSCustomObject, array, number, ...) for JSON bodies.</summary>
/// <remarks>
/// Built for a million at a time: creating one copies a few fields and nothing else. The body is decoded when
/// <see cref="Body"/> is first read, and then kept, so that a receive that only counts or filters messages pays
/// neither the decoding nor the memory of a string per message (the undecoded body is a slice of the frame the
/// message came in, which its neighbours share). A whole received run is usually kept alive at once
/// (<c>$all = Receive-MessengerMessage -Count 1000000</c>), so every field here is paid for by every message
/// through the garbage collector: keep it one small object. What all the messages of a frame have in common
/// (sender, receiver, kind, arrival time) is kept once, in an <see cref="Origin"/> they share.
/// </remarks>
public sealed class MessengerReceivedMessage
{
    // Body before its first read; null is a body (a JSON null), so it cannot mark "not decoded yet".
    private static readonly object Undecoded = new();

    private readonly Origin _origin;
    private readonly ReadOnlyMemory<byte> _raw;
    private object? _body = Undecoded;

    internal MessengerReceivedMessage(MessengerMessage message)
        : this(message, Origin.Of(message, previous: null))
    {
    }

    /// <param name="message">The engine's message.</param>
    /// <param name="origin">Its <see cref="Origin.Of"/>, shared with the messages before it when they match.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal MessengerReceivedMessage(MessengerMessage message, Origin origin)
    {
        _origin = origin;
        Topic = message.Topic;
        ContentType = message.ContentType;
        _raw = message.Body;
        Sequence = message.Sequence;
        SentAt = message.SentAt;
    }

    /// <summary>The sender's name.</summary>
    public string From => _origin.From;

    /// <summary>The sender's node id.</summary>
    public string FromId => _origin.FromId;

    /// <summary>The name of the node of this session that received it.</summary>
    public string To => _origin.To;

    /// <summary>The topic the sender gave, or null.</summary>
    public string? Topic { get; }

    /// <summary>Unicast or Broadcast.</summary>
    public MessageKind Kind => _origin.Kind;

    /// <summary>Text, Binary or Json: how <see cref="Body"/> was decoded.</summary>
    public MessageContentType ContentType { get; }

    /// <summary>The body: a string (Text), a byte array (Binary), or the object that was sent (Json). Decoded on
    /// first read; every read returns the same object.</summary>
    public object? Body
    {
        get
        {
            var body = Volatile.Read(ref _body);
            if (!ReferenceEquals(body, Undecoded)) return body;
            // Two threads may decode at once; both then return the first one's result.
            var decoded = Decode();
            var won = Interlocked.CompareExchange(ref _body, decoded, Undecoded);
            return ReferenceEquals(won, Undecoded) ? decoded : won;
        }
    }

    /// <summary>The body's size in bytes, as it travelled.</summary>
    public int Size => _raw.Length;

    /// <summary>The sender's sequence number for this stream (its unicast messages to this node, or its broadcasts).</summary>
    public long Sequence { get; }

    /// <summary>When the sender sent it, by the sender's clock.</summary>
    public DateTimeOffset SentAt { get; }

    /// <summary>When the receiving node took it off the wire.</summary>
    public DateTimeOffset ReceivedAt => _origin.ReceivedAt;

    /// <inheritdoc/>
    public override string ToString() => Body switch
    {
        string text => text,
        byte[] bytes => $"[{bytes.Length} bytes]",
        null => string.Empty,
        var other => other.ToString() ?? string.Empty,
    };

    private object? Decode()
    {
        switch (ContentType)
        {
            case MessageContentType.Text:
                return Encoding.UTF8.GetString(_raw.Span);
            case MessageContentType.Json:
                try
                {
                    return PSJson.Deserialize(_raw.Span);
                }
                catch (JsonException)
                {
                    // Not valid JSON after all: hand over the text rather than lose the message.
                    return Encoding.UTF8.GetString(_raw.Span);
                }
            default:
                return _raw.ToArray();
        }
    }

    /// <summary>What the messages of one received frame have in common; consecutive messages share one.</summary>
    internal sealed record Origin(string From, string FromId, string To, MessageKind Kind, DateTimeOffset ReceivedAt)
    {
        /// <summary><paramref name="previous"/> when <paramref name="message"/> has the same origin, else a new one.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static Origin Of(MessengerMessage message, Origin? previous) =>
            previous is not null
            && previous.Kind == message.Kind
            && previous.ReceivedAt.EqualsExact(message.ReceivedAt)
            && Same(previous.From, message.From)
            && Same(previous.FromId, message.FromId)
            && Same(previous.To, message.To)
                ? previous
                : new Origin(message.From, message.FromId, message.To, message.Kind, message.ReceivedAt);

        // The messages of one frame share their string instances: the reference test settles it, inlined.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool Same(string a, string b) => ReferenceEquals(a, b) || string.Equals(a, b, StringComparison.Ordinal);
    }
}
