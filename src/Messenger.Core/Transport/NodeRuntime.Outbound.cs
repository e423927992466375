using Messenger.Internal;
using Messenger.Protocol;
using NetMQ;

namespace Messenger.Transport;

// Sending: senders on any thread append to a peer's OutboundQueue; the poller sends whole batches.
internal sealed partial class NodeRuntime
{
    private readonly OutboundQueue _broadcast;

    public ValueTask SendAsync(string to, ReadOnlyMemory<byte> body, MessageContentType contentType, string? topic, CancellationToken cancellationToken)
    {
        if (!_byName.TryGetValue(to, out var link)) throw new PeerNotFoundException(to);
        return EnqueueAsync(link.Outbound, body, contentType, topic, cancellationToken);
    }

    public ValueTask BroadcastAsync(ReadOnlyMemory<byte> body, MessageContentType contentType, string? topic, CancellationToken cancellationToken) =>
        EnqueueAsync(_broadcast, body, contentType, topic, cancellationToken);

    private ValueTask EnqueueAsync(OutboundQueue queue, ReadOnlyMemory<byte> body, MessageContentType contentType, string? topic, CancellationToken cancellationToken)
    {
        if (_stopRequested != 0) throw new NodeStoppedException(Name);
        if (body.Length > _options.MaxMessageSize) throw new MessageTooLargeException(body.Length, _options.MaxMessageSize);
        cancellationToken.ThrowIfCancellationRequested();
        var topicBytes = OutboundQueue.EncodeTopic(topic);
        return TryEnqueue(queue, body.Span, contentType, topicBytes)
            ? default
            : EnqueueSlowAsync(queue, body, contentType, topicBytes, cancellationToken);
    }

    private bool TryEnqueue(OutboundQueue queue, ReadOnlySpan<byte> body, MessageContentType contentType, byte[]? topic)
    {
        long sequence;
        bool doorbell;
        try
        {
            sequence = queue.TryAppend(body, contentType, topic, Wire.UnixMicros(DateTimeOffset.UtcNow), out doorbell);
        }
        catch (InvalidOperationException)
        {
            throw queue == _broadcast ? new NodeStoppedException(Name) : new PeerNotFoundException(((PeerLink)queue.Owner!).Name);
        }
        if (sequence == 0) return false;
        Interlocked.Increment(ref _messagesSent);
        Telemetry.MessagesSent.Add(1, _nodeTag);
        if (doorbell) _doorbell.Enqueue(queue);
        return true;
    }

    private async ValueTask EnqueueSlowAsync(OutboundQueue queue, ReadOnlyMemory<byte> body, MessageContentType contentType, byte[]? topic, CancellationToken cancellationToken)
    {
        while (true)
        {
            await queue.WaitForRoomAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            if (_stopRequested != 0) throw new NodeStoppedException(Name);
            if (TryEnqueue(queue, body.Span, contentType, topic)) return;
        }
    }

    private void OnDoorbell()
    {
        while (_doorbell.TryDequeue(out var queue, TimeSpan.Zero))
        {
            if (queue == _broadcast) FlushBroadcast();
            else if (queue.Owner is PeerLink link && link.State != PeerState.Gone) FlushLink(link);
        }
    }

    /// <summary>Sends what is queued for a peer, once its handshake allows data; stops at the DEALER's high-water
    /// mark and goes on at its SendReady.</summary>
    private void FlushLink(PeerLink link)
    {
        var session = link.Session;
        if (session is null || !link.Welcomed || link.Blocked) return;
        var dealer = session.Dealer;
        _segments.Clear();
        link.Outbound.TakeAll(_segments);
        for (var i = 0; i < _segments.Count; i++)
        {
            var segment = _segments[i];
            if (!SendOnSession(session, segment.Buffer, segment.Length))
            {
                link.Outbound.PutBack(_segments, i);
                // Wait for room: SendReady is subscribed only now, since a writable socket would raise it on every poll.
                link.Blocked = true;
                dealer.SendReady += link.SendReadyHandler;
                return;
            }
            CountSent(segment);
            link.Outbound.Release(segment);
        }
    }

    private void OnDealerSendReady(PeerLink link)
    {
        if (link.Session is not null) link.Session.Dealer.SendReady -= link.SendReadyHandler;
        if (!link.Blocked) return;
        link.Blocked = false;
        FlushLink(link);
    }

    private void FlushBroadcast()
    {
        _segments.Clear();
        _broadcast.TakeAll(_segments);
        foreach (var segment in _segments)
        {
            // PUB never blocks: a subscriber past its high-water mark loses the frame (documented in PROTOCOL.md).
            Publish(segment.Buffer, segment.Length);
            CountSent(segment);
            _broadcast.Release(segment);
        }
    }

    private void CountSent(OutboundSegment segment)
    {
        _framesSent++;
        _bytesSent += segment.Length;
        Telemetry.BytesSent.Add(segment.Length, _nodeTag);
    }
}
