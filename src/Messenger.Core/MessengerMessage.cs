using System.Text;
using System.Text.Json;

namespace Messenger;

/// <summary>A message as the receiving node delivers it.</summary>
public sealed class MessengerMessage
{
    // Both times are kept as UTC DateTime (8 bytes, not 16): a node delivers millions of these a second.
    private readonly DateTime _sentAtUtc;
    private readonly DateTime _receivedAtUtc;

    /// <summary>The sender's name.</summary>
    public required string From { get; init; }

    /// <summary>The sender's node id.</summary>
    public required string FromId { get; init; }

    /// <summary>The receiving node's name.</summary>
    public required string To { get; init; }

    /// <summary>The topic the sender gave, or null.</summary>
    public string? Topic { get; init; }

    /// <summary>Unicast or broadcast.</summary>
    public required MessageKind Kind { get; init; }

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
        get => new(_receivedAtUtc, TimeSpan.Zero);
        init => _receivedAtUtc = value.UtcDateTime;
    }

    /// <summary>The body decoded as UTF-8 text.</summary>
    public string GetText() => Encoding.UTF8.GetString(Body.Span);

    /// <summary>The body parsed as JSON into <typeparamref name="T"/>.</summary>
    public T? GetJson<T>(JsonSerializerOptions? options = null) => JsonSerializer.Deserialize<T>(Body.Span, options);

    /// <inheritdoc/>
    public override string ToString() => $"{Kind} #{Sequence} from {From}{(Topic is null ? "" : $" [{Topic}]")}: {ContentType}, {Body.Length} bytes";
}
