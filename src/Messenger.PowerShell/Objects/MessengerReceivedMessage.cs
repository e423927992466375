using System.Text.Json;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell;

/// <summary>A message as Receive-MessengerMessage outputs it. <see cref="Body"/> is a string for text, a byte
/// array for binary bodies, and the PowerShell object (PSCustomObject, array, number, ...) for JSON bodies.</summary>
public sealed class MessengerReceivedMessage
{
    internal MessengerReceivedMessage(MessengerMessage message)
    {
        From = message.From;
        FromId = message.FromId;
        To = message.To;
        Topic = message.Topic;
        Kind = message.Kind;
        ContentType = message.ContentType;
        Size = message.Body.Length;
        Sequence = message.Sequence;
        SentAt = message.SentAt;
        ReceivedAt = message.ReceivedAt;
        Body = Decode(message);
    }

    /// <summary>The sender's name.</summary>
    public string From { get; }

    /// <summary>The sender's node id.</summary>
    public string FromId { get; }

    /// <summary>The name of the node of this session that received it.</summary>
    public string To { get; }

    /// <summary>The topic the sender gave, or null.</summary>
    public string? Topic { get; }

    /// <summary>Unicast or Broadcast.</summary>
    public MessageKind Kind { get; }

    /// <summary>Text, Binary or Json: how <see cref="Body"/> was decoded.</summary>
    public MessageContentType ContentType { get; }

    /// <summary>The body: a string (Text), a byte array (Binary), or the object that was sent (Json).</summary>
    public object? Body { get; }

    /// <summary>The body's size in bytes, as it travelled.</summary>
    public int Size { get; }

    /// <summary>The sender's sequence number for this stream (its unicast messages to this node, or its broadcasts).</summary>
    public long Sequence { get; }

    /// <summary>When the sender sent it, by the sender's clock.</summary>
    public DateTimeOffset SentAt { get; }

    /// <summary>When the receiving node took it off the wire.</summary>
    public DateTimeOffset ReceivedAt { get; }

    /// <inheritdoc/>
    public override string ToString() => Body switch
    {
        string text => text,
        byte[] bytes => $"[{bytes.Length} bytes]",
        null => string.Empty,
        var other => other.ToString() ?? string.Empty,
    };

    private static object? Decode(MessengerMessage message)
    {
        switch (message.ContentType)
        {
            case MessageContentType.Text:
                return message.GetText();
            case MessageContentType.Json:
                try
                {
                    return PSJson.Deserialize(message.Body.Span);
                }
                catch (JsonException)
                {
                    // Not valid JSON after all: hand over the text rather than lose the message.
                    return message.GetText();
                }
            default:
                return message.Body.ToArray();
        }
    }
}
