using System.Management.Automation;
using System.Text;
using System.Text.Json;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell;

/// <summary>A message as Receive-MessengerMessage outputs it. <see cref="Body"/> is a string for text, a byte
/// array for binary bodies, and the PowerShell object (PSCustomObject, array, number, ...) for JSON bodies.</summary>
/// <remarks>
/// Built for a million at a time: it wraps the engine's message (which already shares sender, receiver, kind and
/// arrival time with the other messages of its frame) and copies nothing. The body is decoded when
/// <see cref="Body"/> is first read, and then kept, so that a receive that only counts or filters messages pays
/// neither the decoding nor the memory of a string per message (the undecoded body is a slice of the frame the
/// message came in, which its neighbours share). A whole received run is usually kept alive at once
/// (<c>$all = Receive-MessengerMessage -Count 1000000</c>), so every byte here is paid for by every message
/// through the garbage collector.
/// </remarks>
public sealed class MessengerReceivedMessage
{
    // Body before its first read; null is a body (a JSON null), so it cannot mark "not decoded yet".
    private static readonly object Undecoded = new();

    private readonly MessengerMessage _message;
    private object? _body = Undecoded;

    /// <param name="message">The engine's message, which keeps every field but the decoded body.</param>
    internal MessengerReceivedMessage(MessengerMessage message) => _message = message;

    /// <summary>The sender's name.</summary>
    public string From => _message.From;

    /// <summary>The sender's node id.</summary>
    public string FromId => _message.FromId;

    /// <summary>The name of the node of this session that received it.</summary>
    public string To => _message.To;

    /// <summary>The topic the sender gave, or null.</summary>
    public string? Topic => _message.Topic;

    /// <summary>Unicast or Broadcast.</summary>
    public MessageKind Kind => _message.Kind;

    /// <summary>Text, Binary or Json: how <see cref="Body"/> was decoded.</summary>
    public MessageContentType ContentType => _message.ContentType;

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
    public int Size => _message.Body.Length;

    /// <summary>The sender's sequence number for this stream (its unicast messages to this node, or its broadcasts).</summary>
    public long Sequence => _message.Sequence;

    /// <summary>When the sender sent it, by the sender's clock.</summary>
    public DateTimeOffset SentAt => _message.SentAt;

    /// <summary>When the receiving node took it off the wire.</summary>
    public DateTimeOffset ReceivedAt => _message.ReceivedAt;

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
                return Encoding.UTF8.GetString(_message.Body.Span);
            case MessageContentType.Json:
                try
                {
                    return PSJson.Deserialize(_message.Body.Span);
                }
                catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException or ExtendedTypeSystemException)
                {
                    // Not valid JSON after all, or JSON that ConvertFrom-Json would not turn into an object either (a
                    // property named "", names that differ only in case, a string with half a surrogate pair): hand
                    // over the text rather than lose the message.
                    return Encoding.UTF8.GetString(_message.Body.Span);
                }
            default:
                return _message.Body.ToArray();
        }
    }
}
