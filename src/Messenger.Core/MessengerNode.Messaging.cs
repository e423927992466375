using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Messenger.Internal;

namespace Messenger;

// Sending and receiving.
public sealed partial class MessengerNode
{
    /// <summary>Sends text to one peer. Completes when the message is queued for the peer (at once, unless the
    /// peer's send queue is full: then when there is room).</summary>
    /// <exception cref="PeerNotFoundException">No peer of that name is in the peer table.</exception>
    /// <exception cref="ArgumentException">The text holds half of a surrogate pair, which UTF-8 cannot carry.</exception>
    public ValueTask SendAsync(string to, string text, string? topic = null, CancellationToken cancellationToken = default)
    {
        return SendAsync(to, TextBody.Encode(text), MessageContentType.Text, topic, cancellationToken);
    }

    /// <summary>Sends a body of bytes to one peer.</summary>
    /// <exception cref="PeerNotFoundException">No peer of that name is in the peer table.</exception>
    /// <exception cref="MessageTooLargeException">The body is larger than <see cref="MessengerNodeOptions.MaxMessageSize"/>.</exception>
    public ValueTask SendAsync(string to, ReadOnlyMemory<byte> body, MessageContentType contentType = MessageContentType.Binary, string? topic = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(to);
        ThrowIfStopped();
        var queued = _runtime.SendAsync(to, body, contentType, topic, cancellationToken);
        return queued.IsCompletedSuccessfully ? default : new ValueTask(queued.AsTask());
    }

    /// <summary>Sends a body of bytes to one peer; with <paramref name="requireAck"/>, completes only once the
    /// peer's node has received the message (a full receive queue there may still drop it, by that node's
    /// <see cref="MessengerNodeOptions.ReceiveFullMode"/>, counted and raised there), or fails with ErrorId
    /// "MessageTooLarge" when the body is over the peer's MaxMessageSize (also when the peer told it only after the
    /// message was queued: then the message is withdrawn, counted and raised as dropped here), "AckTimeout" after
    /// <see cref="MessengerNodeOptions.AckTimeout"/> or "NotAcknowledged" when the peer goes away first: then the
    /// message may or may not have arrived. Acknowledged messages survive reconnections: what a peer did not
    /// acknowledge is sent again on its next session, and duplicates are dropped by sequence number. Cancelling
    /// ends the wait, not the message: once queued, it goes all the same.</summary>
    public async Task SendAsync(string to, ReadOnlyMemory<byte> body, MessageContentType contentType, string? topic, bool requireAck, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(to);
        ThrowIfStopped();
        if (!requireAck)
        {
            await SendAsync(to, body, contentType, topic, cancellationToken).ConfigureAwait(false);
            return;
        }
        await _runtime.SendAcknowledgedAsync(to, body, contentType, topic, Options.AckTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends text to one peer; with <paramref name="requireAck"/>, as the bytes overload.</summary>
    /// <exception cref="ArgumentException">The text holds half of a surrogate pair, which UTF-8 cannot carry.</exception>
    public Task SendAsync(string to, string text, string? topic, bool requireAck, CancellationToken cancellationToken = default)
    {
        return SendAsync(to, TextBody.Encode(text), MessageContentType.Text, topic, requireAck, cancellationToken);
    }

    /// <summary>Sends a value serialized as JSON to one peer.</summary>
    public ValueTask SendJsonAsync<T>(string to, T value, string? topic = null, JsonSerializerOptions? options = null, CancellationToken cancellationToken = default) =>
        SendAsync(to, JsonSerializer.SerializeToUtf8Bytes(value, options), MessageContentType.Json, topic, cancellationToken);

    /// <summary>Sends several messages to one peer, in order: cheaper per message than <see cref="SendAsync(string, ReadOnlyMemory{byte}, MessageContentType, string?, CancellationToken)"/>
    /// in a loop (one lock and one wake-up of the node's sender for the run, and the run travels in as few frames
    /// as fit). Completes when every message is queued; each gets the next sequence number. Every message is
    /// checked before any is queued; if the peer's queue fills part way, the call waits for room, and a
    /// cancellation or failure then leaves the messages before that point queued.</summary>
    /// <exception cref="PeerNotFoundException">No peer of that name is in the peer table.</exception>
    /// <exception cref="MessageTooLargeException">A body is larger than <see cref="MessengerNodeOptions.MaxMessageSize"/>;
    /// nothing was queued. Or a body is larger than the MaxMessageSize of a peer that told it during the call (its
    /// <see cref="MessageTooLargeException.Peer"/> names it): the messages before that body are queued.</exception>
    public ValueTask SendManyAsync(string to, ReadOnlyMemory<OutgoingMessage> messages, string? topic = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(to);
        ThrowIfStopped();
        return _runtime.SendManyAsync(to, messages, topic, cancellationToken);
    }

    /// <summary>Sends several messages to every connected peer, in order, as <see cref="SendManyAsync"/> does for one.</summary>
    /// <exception cref="MessageTooLargeException">A body is larger than <see cref="MessengerNodeOptions.MaxMessageSize"/>;
    /// nothing was queued. Or a body is larger than the MaxMessageSize of a peer that told it during the call (its
    /// <see cref="MessageTooLargeException.Peer"/> names it): the messages before that body are queued.</exception>
    public ValueTask BroadcastManyAsync(ReadOnlyMemory<OutgoingMessage> messages, string? topic = null, CancellationToken cancellationToken = default)
    {
        ThrowIfStopped();
        return _runtime.BroadcastManyAsync(messages, topic, cancellationToken);
    }

    /// <summary>Sends text to every connected peer.</summary>
    /// <exception cref="ArgumentException">The text holds half of a surrogate pair, which UTF-8 cannot carry.</exception>
    public ValueTask BroadcastAsync(string text, string? topic = null, CancellationToken cancellationToken = default)
    {
        return BroadcastAsync(TextBody.Encode(text), MessageContentType.Text, topic, cancellationToken);
    }

    /// <summary>Sends a body of bytes to every connected peer.</summary>
    public ValueTask BroadcastAsync(ReadOnlyMemory<byte> body, MessageContentType contentType = MessageContentType.Binary, string? topic = null, CancellationToken cancellationToken = default)
    {
        ThrowIfStopped();
        var queued = _runtime.BroadcastAsync(body, contentType, topic, cancellationToken);
        return queued.IsCompletedSuccessfully ? default : new ValueTask(queued.AsTask());
    }

    /// <summary>Sends a value serialized as JSON to every connected peer.</summary>
    public ValueTask BroadcastJsonAsync<T>(T value, string? topic = null, JsonSerializerOptions? options = null, CancellationToken cancellationToken = default) =>
        BroadcastAsync(JsonSerializer.SerializeToUtf8Bytes(value, options), MessageContentType.Json, topic, cancellationToken);

    /// <summary>Every received message, in arrival order, until the node stops or the token is cancelled.</summary>
    public async IAsyncEnumerable<MessengerMessage> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var reader = _runtime.Received;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (reader.TryRead(out var message)) yield return message;
        }
    }

    /// <summary>The next received message.</summary>
    /// <exception cref="NodeStoppedException">The node stopped and every received message has been read.</exception>
    public async ValueTask<MessengerMessage> ReadAsync(CancellationToken cancellationToken = default)
    {
        var reader = _runtime.Received;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (reader.TryRead(out var message)) return message;
        }
        throw new NodeStoppedException(Name);
    }

    /// <summary>Takes a received message if one is waiting.</summary>
    public bool TryRead([NotNullWhen(true)] out MessengerMessage? message) => _runtime.Received.TryRead(out message);

    /// <summary>Takes up to <paramref name="maxCount"/> waiting messages at once, in arrival order, appending them to
    /// <paramref name="into"/>; returns how many (0 when none wait). Cheaper per message than
    /// <see cref="TryRead"/> for a reader that drains in bulk.</summary>
    public int TryReadMany(List<MessengerMessage> into, int maxCount)
    {
        ArgumentNullException.ThrowIfNull(into);
        ArgumentOutOfRangeException.ThrowIfNegative(maxCount);
        return _runtime.Received.TryReadMany(into, maxCount);
    }

    /// <summary>Completes with true when a message waits to be read, or with false once the node has stopped and
    /// every received message has been read.</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => _runtime.Received.WaitToReadAsync(cancellationToken);

    /// <summary>How many received messages wait to be read.</summary>
    public int PendingReceiveCount => _runtime.Received.Count;
}
