using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;

namespace Messenger;

/// <summary>A message as the receiving node delivers it.</summary>
public sealed class MessengerMessage
{
    // A node delivers millions of these a second, and the garbage collector pays for every field: what the messages
    // of one received frame have in common (sender, receiver, kind, arrival time) is kept once, in an origin they
    // share, and times are kept as UTC DateTime (8 bytes, not 16).
    private readonly Origin _origin = Origin.None;
    private readonly DateTime _sentAtUtc;

    /// <summary>Creates a message; every required property must be set (the node creates the ones it delivers).</summary>
    public MessengerMessage()
    {
    }

    // From, FromId, To, Kind and ReceivedAt read the shared origin: nothing to set for them here.
#pragma warning disable CS8618
    [SetsRequiredMembers]
    internal MessengerMessage(Origin origin, string? topic, MessageContentType contentType, ReadOnlyMemory<byte> body, long sequence, DateTime sentAtUtc)
    {
        _origin = origin;
        Topic = topic;
        ContentType = contentType;
        Body = body;
        Sequence = sequence;
        _sentAtUtc = sentAtUtc;
    }
#pragma warning restore CS8618

    /// <summary>The sender's name.</summary>
    public required string From
    {
        get => _origin.From;
        init => _origin = _origin with { From = value };
    }

    /// <summary>The sender's node id.</summary>
    public required string FromId
    {
        get => _origin.FromId;
        init => _origin = _origin with { FromId = value };
    }

    /// <summary>The receiving node's name.</summary>
    public required string To
    {
        get => _origin.To;
        init => _origin = _origin with { To = value };
    }

    /// <summary>The topic the sender gave, or null.</summary>
    public string? Topic { get; init; }

    /// <summary>Unicast or broadcast.</summary>
    public required MessageKind Kind
    {
        get => _origin.Kind;
        init => _origin = _origin with { Kind = value };
    }

    /// <summary>What the body holds.</summary>
    public required MessageContentType ContentType { get; init; }

    /// <summary>The body's bytes.</summary>
    public required ReadOnlyMemory<byte> Body { get; init; }

    /// <summary>The sender's sequence number for this stream (its unicast messages to this node, or its
    /// broadcasts): 1, 2, 3, ... with no gaps while nothing is dropped.</summary>
    public required long Sequence { get; init; }

    /// <summary>When the sender sent it, by the sender's clock.</summary>
    public required DateTimeOffset SentAt
    {
        get => new(_sentAtUtc, TimeSpan.Zero);
        init => _sentAtUtc = value.UtcDateTime;
    }

    /// <summary>When this node received it.</summary>
    public required DateTimeOffset ReceivedAt
    {
        get => new(_origin.ReceivedAtUtc, TimeSpan.Zero);
        init => _origin = _origin with { ReceivedAtUtc = value.UtcDateTime };
    }

    /// <summary>What the messages of one received frame have in common.</summary>
    internal sealed record Origin(string From, string FromId, string To, MessageKind Kind, DateTime ReceivedAtUtc)
    {
        public static readonly Origin None = new("", "", "", MessageKind.Unicast, default);
    }

    /// <summary>The body decoded as UTF-8 text.</summary>
    public string GetText() => Encoding.UTF8.GetString(Body.Span);

    /// <summary>The body parsed as JSON into <typeparamref name="T"/>.</summary>
    public T? GetJson<T>(JsonSerializerOptions? options = null) => JsonSerializer.Deserialize<T>(Body.Span, options);

    /// <inheritdoc/>
    public override string ToString() => $"{Kind} #{Sequence} from {From}{(Topic is null ? "" : $" [{Topic}]")}: {ContentType}, {Body.Length} bytes";
}
