using Messenger.Internal;
using Messenger.Protocol;
using NetMQ;

namespace Messenger.Transport;

// Sending: senders on any thread append to a peer's OutboundQueue; the poller sends whole batches.
internal sealed partial class NodeRuntime
{
    private readonly OutboundQueue _broadcast;

    /// <summary>Queues a unicast message; the result is its sequence number.</summary>
    public ValueTask<long> SendAsync(string to, ReadOnlyMemory<byte> body, MessageContentType contentType, string? topic, CancellationToken cancellationToken)
    {
        if (!_byName.TryGetValue(to, out var link)) throw new PeerNotFoundException(to);
        return EnqueueAsync(link.Outbound, body, contentType, topic, ackNow: false, cancellationToken);
    }

    /// <summary>Queues a unicast message and completes once the peer's node has acknowledged it.</summary>
    public async Task SendAcknowledgedAsync(string to, ReadOnlyMemory<byte> body, MessageContentType contentType, string? topic, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_byName.TryGetValue(to, out var link)) throw new PeerNotFoundException(to);
        var sequence = await EnqueueAsync(link.Outbound, body, contentType, topic, ackNow: true, cancellationToken).ConfigureAwait(false);
        try
        {
            await link.Outbound.WaitForAcknowledgementAsync(sequence).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new MessengerException("AckTimeout", $"'{to}' did not acknowledge message #{sequence} within {timeout.TotalSeconds:0.###} s; it may or may not have been received.");
        }
    }

    public ValueTask<long> BroadcastAsync(ReadOnlyMemory<byte> body, MessageContentType contentType, string? topic, CancellationToken cancellationToken) =>
        EnqueueAsync(_broadcast, body, contentType, topic, ackNow: false, cancellationToken);

    /// <summary>Queues a run of unicast messages, in order, under one lock per frame's worth and one doorbell.</summary>
    public ValueTask SendManyAsync(string to, ReadOnlyMemory<OutgoingMessage> messages, string? topic, CancellationToken cancellationToken)
    {
        if (!_byName.TryGetValue(to, out var link)) throw new PeerNotFoundException(to);
        return EnqueueManyAsync(link.Outbound, messages, topic, cancellationToken);
    }

    public ValueTask BroadcastManyAsync(ReadOnlyMemory<OutgoingMessage> messages, string? topic, CancellationToken cancellationToken) =>
        EnqueueManyAsync(_broadcast, messages, topic, cancellationToken);

    private ValueTask<long> EnqueueAsync(OutboundQueue queue, ReadOnlyMemory<byte> body, MessageContentType contentType, string? topic, bool ackNow, CancellationToken cancellationToken)
    {
        if (_stopRequested != 0) throw new NodeStoppedException(Name);
        CheckMessage(queue, body.Length, contentType);
        cancellationToken.ThrowIfCancellationRequested();
        var topicBytes = OutboundQueue.EncodeTopic(topic);
        var sequence = TryEnqueue(queue, body.Span, contentType, topicBytes, ackNow);
        return sequence > 0
            ? new ValueTask<long>(sequence)
            : EnqueueSlowAsync(queue, body, contentType, topicBytes, ackNow, cancellationToken);
    }

    /// <summary>A message the receiver would refuse is refused here, before anything is queued: a bad record
    /// would make the receiver drop its whole batch, other messages with it; and one over the receiver's
    /// MaxMessageSize would be dropped there, when its sender may be waiting for it to be acknowledged.</summary>
    private void CheckMessage(OutboundQueue queue, int length, MessageContentType contentType)
    {
        if (length > _options.MaxMessageSize) throw new MessageTooLargeException(length, _options.MaxMessageSize);
        if (queue.Owner is PeerLink link)
        {
            if (link.PeerMaxMessageSize is > 0 and var theirs && length > theirs) throw new MessageTooLargeException(length, theirs, link.Name);
        }
        else if (length > _broadcastLimit && SmallestLimitUnder(length) is { } smallest)
        {
            throw new MessageTooLargeException(length, smallest.PeerMaxMessageSize, smallest.Name);
        }
        if (contentType > MessageContentType.Json)
            throw new ArgumentOutOfRangeException(nameof(contentType), contentType, "not a MessageContentType: Binary, Text or Json");
    }

    // The smallest MaxMessageSize a peer in the table told this node: the largest broadcast all of them accept.
    private volatile int _broadcastLimit = int.MaxValue;

    /// <summary>Poller: the peer's WELCOME told its MaxMessageSize.</summary>
    private void LearnMaxMessageSize(PeerLink link, int size)
    {
        if (link.PeerMaxMessageSize == size) return;
        link.PeerMaxMessageSize = size;
        link.Outbound.LimitBodies(size, link.Name);
        UpdateBroadcastLimit();
    }

    /// <summary>Poller, when the peer's WELCOME is read and before anything goes out: a message queued for it before
    /// it told its MaxMessageSize (or before it restarted with a smaller one) and over that limit is withdrawn from
    /// its frame, counted and raised as dropped; an acknowledged send of one fails with MessageTooLarge.</summary>
    private void WithdrawTooLarge(PeerLink link) => WithdrawOver(link.Outbound, link.PeerMaxMessageSize, link.Name);

    /// <summary>Withdraws from <paramref name="queue"/> every queued body over <paramref name="limit"/>, the
    /// MaxMessageSize that <paramref name="peer"/> told after they were queued (see <see cref="OutboundQueue.WithdrawOver"/>).</summary>
    private void WithdrawOver(OutboundQueue queue, int limit, string peer)
    {
        if (limit <= 0 || queue.WithdrawOver(limit) is not { } withdrawn) return;
        var (what, to) = queue == _broadcast ? ("broadcast", "*") : ("message", peer);
        foreach (var record in withdrawn)
        {
            if (record.AckNow) queue.Fail(record.Sequence, new MessageTooLargeException(record.Size, limit, peer));
            CountDropped(1, "too large");
            Log.TooLargeWithdrawn(_logger, record.Sequence, to, record.Size, limit);
            if (MessageDropped is not null)
            {
                var args = new MessageDroppedEventArgs(null, to, $"{what} #{record.Sequence} of {record.Size} bytes is over the MaxMessageSize of '{peer}' ({limit}), which it told after the {what} was queued");
                Raise(nameof(MessageDropped), () => InvokeEach(MessageDropped, args));
            }
        }
    }

    /// <summary>Poller: after a peer told its MaxMessageSize, or left the table. A broadcast queued (or held for the
    /// window) before a peer with a smaller limit joined is withdrawn: published, it would be over that peer's frame
    /// limit, end its subscription, and take what follows on that connection with it, uncounted.</summary>
    private void UpdateBroadcastLimit()
    {
        var limit = int.MaxValue;
        PeerLink? smallest = null;
        foreach (var link in _peers.Values)
        {
            if (link.PeerMaxMessageSize is > 0 and var theirs && theirs < limit) (limit, smallest) = (theirs, link);
        }
        var lowered = limit < _broadcastLimit;
        _broadcastLimit = limit;
        _broadcast.LimitBodies(limit, smallest?.Name ?? "");
        if (lowered && smallest is not null) WithdrawOver(_broadcast, limit, smallest.Name);
    }

    /// <summary>Any thread: the peer with the smallest MaxMessageSize below <paramref name="length"/>, if one is still
    /// in the table.</summary>
    private PeerLink? SmallestLimitUnder(int length) =>
        _byName.Values.Where(l => l.PeerMaxMessageSize > 0 && l.PeerMaxMessageSize < length).MinBy(l => l.PeerMaxMessageSize);

    private ValueTask EnqueueManyAsync(OutboundQueue queue, ReadOnlyMemory<OutgoingMessage> messages, string? topic, CancellationToken cancellationToken)
    {
        if (_stopRequested != 0) throw new NodeStoppedException(Name);
        foreach (ref readonly var message in messages.Span) CheckMessage(queue, message.Body.Length, message.ContentType);
        cancellationToken.ThrowIfCancellationRequested();
        if (messages.IsEmpty) return default;
        var topicBytes = OutboundQueue.EncodeTopic(topic);
        var queued = TryEnqueueMany(queue, messages.Span, topicBytes);
        return queued == messages.Length ? default : EnqueueManySlowAsync(queue, messages[queued..], topicBytes, cancellationToken);
    }

    private int TryEnqueueMany(OutboundQueue queue, ReadOnlySpan<OutgoingMessage> messages, byte[]? topic)
    {
        int queued;
        bool doorbell;
        MessageTooLargeException? refused;
        try
        {
            queued = queue.TryAppendMany(messages, topic, Wire.UnixMicros(DateTimeOffset.UtcNow), out doorbell, out refused);
        }
        catch (InvalidOperationException)
        {
            throw QueueClosed(queue);
        }
        Queued(queue, queued, doorbell);
        if (refused is not null) throw refused;
        return queued;
    }

    private async ValueTask EnqueueManySlowAsync(OutboundQueue queue, ReadOnlyMemory<OutgoingMessage> rest, byte[]? topic, CancellationToken cancellationToken)
    {
        while (!rest.IsEmpty)
        {
            await queue.WaitForRoomAsync(OutboundQueue.RecordSize(rest.Span[0].Body.Length, topic)).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (_stopRequested != 0) throw new NodeStoppedException(Name);
            rest = rest[TryEnqueueMany(queue, rest.Span, topic)..];
        }
    }

    private long TryEnqueue(OutboundQueue queue, ReadOnlySpan<byte> body, MessageContentType contentType, byte[]? topic, bool ackNow)
    {
        long sequence;
        bool doorbell;
        var now = Wire.UnixMicros(DateTimeOffset.UtcNow);
        try
        {
            if (queue.MightBeIdle && queue.Owner is PeerLink { Data: { IsReady: true } data } link && TrySendDirect(link, queue, data, body, contentType, topic, ackNow, now, out sequence))
            {
                Queued(queue, 1, doorbell: false);
                return sequence;
            }
            sequence = queue.TryAppend(body, contentType, topic, now, ackNow, out doorbell);
        }
        catch (InvalidOperationException)
        {
            throw QueueClosed(queue);
        }
        if (sequence > 0) Queued(queue, 1, doorbell);
        return sequence;
    }

    // Counts what was queued and, when the queue had been idle, tells the poller.
    private void Queued(OutboundQueue queue, int count, bool doorbell)
    {
        if (count == 0) return;
        Interlocked.Add(ref _messagesSent, count);
        Telemetry.MessagesSent.Add(count, _nodeTag);
        if (doorbell) RingDoorbell(queue);
    }

    // A queue closes when its peer is removed, and every queue when the node stops: a send that began just before
    // the stop meets a closed queue of a peer that is still there.
    private MessengerException QueueClosed(OutboundQueue queue) =>
        queue == _broadcast || _stopRequested != 0 ? new NodeStoppedException(Name) : new PeerNotFoundException(((PeerLink)queue.Owner!).Name);

    private async ValueTask<long> EnqueueSlowAsync(OutboundQueue queue, ReadOnlyMemory<byte> body, MessageContentType contentType, byte[]? topic, bool ackNow, CancellationToken cancellationToken)
    {
        while (true)
        {
            await queue.WaitForRoomAsync(OutboundQueue.RecordSize(body.Length, topic)).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (_stopRequested != 0) throw new NodeStoppedException(Name);
            var sequence = TryEnqueue(queue, body.Span, contentType, topic, ackNow);
            if (sequence > 0) return sequence;
        }
    }

    private void Flush(OutboundQueue queue)
    {
        if (queue == _broadcast) Guard("broadcast", FlushBroadcast, RestartPublisher);
        else if (queue.Owner is PeerLink link && link.State != PeerState.Gone) Guard(LinkActor(link), () => FlushLink(link), () => RestartLink(link));
    }

    /// <summary>Sends what is queued for a peer, once its handshake allows data: on the data connection once that is
    /// ready (opening it when there first is something to send), else on the link's own DEALER, stopping at its
    /// high-water mark and going on at its SendReady.</summary>
    private void FlushLink(PeerLink link)
    {
        var session = link.Session;
        if (session is null || !session.Established || !link.Welcomed) return;
        if (link.Data is { State: not DataConnectionState.Handshaking } data)
        {
            FlushData(link, data);
            return;
        }
        if (link.Blocked) return;
        if (!SendQueued(link, segment => SendOnSession(session, segment.Buffer, segment.Length)))
        {
            // Wait for room: SendReady is subscribed only now, since a writable socket would raise it on every poll.
            link.Blocked = true;
            session.Dealer.SendReady += link.SendReadyHandler;
        }
        // The first messages to the peer open its data connection: a link that carries none (broadcasts only, or
        // membership alone) never pays for a second handshake.
        if (_segments.Count > 0 && WantsDataConnection(link)) OpenDataConnection(link);
    }

    /// <summary>Takes what is queued for the link and sends it, frame by frame, with <paramref name="send"/>, each
    /// carrying the ACK the peer is owed, if any (see <see cref="PutOwedAckInData"/>). False
    /// when a frame was refused (the socket is full): it and the rest go back to the front of the queue, in order,
    /// as they do when a send fails part way (the supervisor then restarts the link, and they go on the next session).</summary>
    private bool SendQueued(PeerLink link, Func<OutboundSegment, bool> send)
    {
        _segments.Clear();
        link.Outbound.TakeAll(_segments);
        var sent = 0;
        try
        {
            for (; sent < _segments.Count; sent++)
            {
                var segment = _segments[sent];
                var ack = PutOwedAckInData(link, segment);
                var sentNow = false;
                try
                {
                    sentNow = send(segment);
                }
                finally
                {
                    SettleAckInData(link, ack, sentNow);
                }
                if (!sentNow) return false;
                CountSent(segment);
                link.Outbound.Sent(segment);
            }
            return true;
        }
        finally
        {
            if (sent < _segments.Count) link.Outbound.PutBack(_segments, sent);
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
        var published = 0;
        try
        {
            for (; published < _segments.Count; published++)
            {
                if (WaitingForSubscribers() || BroadcastWindowFull())
                {
                    // The rest waits for peers to hear a new publisher, or for the slowest peer's BROADCAST_ACK
                    // (NodeRuntime.BroadcastFlow.cs).
                    _broadcast.Hold(_segments, published);
                    SetBroadcastHeld(true);
                    published = _segments.Count;
                    return;
                }
                var segment = _segments[published];
                if (!Faults.TakeLostBroadcastFrame()) Publish(segment.Buffer, segment.Length);
                _broadcastWindow.Published(segment.LastSequence);
                CountSent(segment);
                _broadcast.Release(segment);
            }
            SetBroadcastHeld(false);
        }
        finally
        {
            // What a failed publisher did not send is dropped, and counted.
            for (var i = published; i < _segments.Count; i++)
            {
                CountDropped(_segments[i].Count, "broadcast socket failed");
                _broadcast.Release(_segments[i]);
            }
        }
    }

    private void CountSent(OutboundSegment segment)
    {
        // Also called on senders' threads, for what they send on a data connection.
        Interlocked.Increment(ref _framesSent);
        Interlocked.Add(ref _bytesSent, segment.Length);
        Telemetry.BytesSent.Add(segment.Length, _nodeTag);
    }
}
