using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Messenger.Protocol;

namespace Messenger.Transport;

/// <summary>
/// The messages waiting to go to one peer (or, for broadcasts, to every peer), already encoded as batch frames.
/// Senders on any thread append under a short lock; the node's poller thread takes whole frames. Whatever is
/// queued when the poller comes round goes out as one frame: nothing waits to fill a batch.
/// </summary>
internal sealed class OutboundQueue
{
    public const int SegmentSize = 64 * 1024;

    // Frames of the usual size are recycled here, up to the queue's limit, and let go when the queue is idle.
    // Renting them from the shared ArrayPool ran it dry (a secure link keeps frames until they are acknowledged),
    // and every fresh 64 KiB array lived long enough to be promoted and collected in gen 1 or 2.
    private readonly int _maxFreeSegments;

    private readonly Lock _gate = new();
    private readonly FrameType _type;
    private readonly NodeId _sender;
    private readonly int _prefixSize;
    private readonly long _limitBytes;
    private readonly List<OutboundSegment> _sealed = [];
    private readonly List<OutboundSegment> _unacked = [];
    private readonly Stack<byte[]> _free = new();
    private readonly List<(long Sequence, TaskCompletionSource Done)> _ackWaiters = [];
    // Acknowledged sends whose record was withdrawn before their sender began to wait (see Fail).
    private readonly Dictionary<long, Exception> _failed = [];
    private long _acknowledged;
    // The highest sequence taken for the wire: an acknowledgement counts up to it at most.
    private long _takenSequence;
    private Exception? _closedBecause;
    private byte[]? _current;
    private int _currentLength;
    private int _currentCount;
    private long _pendingBytes;
    private int _largestBody;
    // The peer's MaxMessageSize, once its WELCOME told it (see LimitBodies).
    private int _peerLimit = int.MaxValue;
    private string _peerName = "";
    private long _sequence;
    private bool _scheduled;
    private bool _closed;
    private TaskCompletionSource? _roomWaiter;

    /// <summary>A queue whose first message gets the sequence number after <c>lastSequence</c> (where the stream to
    /// that peer stood, see <see cref="PeerStreams"/>).</summary>
    public OutboundQueue(FrameType type, NodeId sender, long limitBytes, bool retainUntilAcknowledged = false, long lastSequence = 0)
    {
        _sequence = lastSequence;
        _acknowledged = lastSequence;
        _takenSequence = lastSequence;
        _type = type;
        _sender = sender;
        _limitBytes = limitBytes;
        _maxFreeSegments = (int)Math.Min(int.MaxValue, limitBytes / SegmentSize + 1);
        _prefixSize = BatchReader.CountOffset(type) + 4;
        RetainsUntilAcknowledged = retainUntilAcknowledged;
    }

    /// <summary>Frames stay queued, and count against the limit, until the peer acknowledges them; after a new
    /// session they are sent again (the receiver drops what it had by sequence number).</summary>
    public bool RetainsUntilAcknowledged { get; }

    /// <summary>Set by the poller's owner: the object handed to the doorbell when work arrives.</summary>
    public object? Owner { get; set; }

    /// <summary>What the queue holds, against its limit: the records waiting to be sent or acknowledged, and the rest
    /// of each sealed frame's buffer.</summary>
    public long PendingBytes
    {
        get { lock (_gate) return _pendingBytes; }
    }

    public long LastSequence
    {
        get { lock (_gate) return _sequence; }
    }

    /// <summary>Encodes a message into the open batch. Returns its sequence number, or 0 when the queue is over
    /// its limit (the caller waits with <see cref="WaitForRoomAsync"/>). <paramref name="needsDoorbell"/> is true
    /// when the queue was idle and the poller must be told.</summary>
    public long TryAppend(ReadOnlySpan<byte> body, MessageContentType contentType, byte[]? topicUtf8, long sentAtMicros, bool ackNow, out bool needsDoorbell)
    {
        lock (_gate)
        {
            needsDoorbell = false;
            if (_closed) throw new InvalidOperationException("queue closed");
            CheckPeerLimit(body.Length);
            var sequence = AppendUnderLock(body, contentType, topicUtf8, sentAtMicros, ackNow);
            if (sequence > 0) needsDoorbell = Schedule();
            return sequence;
        }
    }

    /// <summary>Encodes as many of <paramref name="messages"/> as the limit allows, in order, under one lock, and
    /// returns how many. <paramref name="needsDoorbell"/> as for <see cref="TryAppend"/>: the poller is told once,
    /// after the whole run, so that it takes the run as whole frames. <paramref name="refused"/> is set when the run
    /// stopped at a body over the peer's limit (see <see cref="LimitBodies"/>; the caller, which checked the run
    /// against the limit it knew, throws it once the messages before it are told to the poller).</summary>
    public int TryAppendMany(ReadOnlySpan<OutgoingMessage> messages, byte[]? topicUtf8, long sentAtMicros, out bool needsDoorbell, out MessageTooLargeException? refused)
    {
        lock (_gate)
        {
            needsDoorbell = false;
            refused = null;
            if (_closed) throw new InvalidOperationException("queue closed");
            var appended = 0;
            while (appended < messages.Length)
            {
                ref readonly var message = ref messages[appended];
                if (message.Body.Length > _peerLimit)
                {
                    refused = new MessageTooLargeException(message.Body.Length, _peerLimit, _peerName);
                    break;
                }
                if (AppendUnderLock(message.Body.Span, message.ContentType, topicUtf8, sentAtMicros, ackNow: false) == 0) break;
                appended++;
            }
            if (appended > 0) needsDoorbell = Schedule();
            return appended;
        }
    }

    /// <summary>At most this many frames sent on a sender's thread may wait for their acknowledgement: past it, a
    /// busy link's messages are left to pile up and go out batched.</summary>
    public const int MaxIdleUnacknowledged = 4;

    /// <summary>A sender's thread, under the link's data gate: when the link is idle (nothing is queued, and at most
    /// a few frames wait for an acknowledgement), encodes the message into a frame of its own and returns it, already
    /// counted as sent and waiting for its acknowledgement, for the caller to send at once. Null otherwise: the caller
    /// appends as usual.</summary>
    public OutboundSegment? TryTakeIdle(ReadOnlySpan<byte> body, MessageContentType contentType, byte[]? topicUtf8, long sentAtMicros, bool ackNow, out long sequence)
    {
        lock (_gate)
        {
            sequence = 0;
            if (_closed || !RetainsUntilAcknowledged || _scheduled || _current is not null || _sealed.Count > 0 || _unacked.Count >= MaxIdleUnacknowledged) return null;
            CheckPeerLimit(body.Length);
            sequence = AppendUnderLock(body, contentType, topicUtf8, sentAtMicros, ackNow);
            if (sequence == 0) return null;
            SealCurrent();
            var segment = _sealed[^1];
            _sealed.Clear();
            _unacked.Add(segment);
            _takenSequence = segment.LastSequence;
            return segment;
        }
    }

    /// <summary>Any thread, without the lock: false when <see cref="TryTakeIdle"/> would surely refuse, because
    /// the queue is busy. A busy link's senders check this, not the data connection's gate and the queue's lock,
    /// before they append. It may be stale either way; <see cref="TryTakeIdle"/> decides under the lock.</summary>
    public bool MightBeIdle => RetainsUntilAcknowledged && !Volatile.Read(ref _scheduled) && _unacked.Count < MaxIdleUnacknowledged;

    /// <summary>A frame from <see cref="TryTakeIdle"/> that could not be sent goes to the front of the queue, for
    /// the poller. True when the poller must be told.</summary>
    public bool Unsent(OutboundSegment segment)
    {
        lock (_gate)
        {
            // A closed queue has already dropped (and counted) it.
            if (_closed || !_unacked.Remove(segment)) return false;
            _sealed.Insert(0, segment);
            return Schedule();
        }
    }

    /// <summary>Frames sent and not yet acknowledged.</summary>
    public int UnacknowledgedFrames
    {
        get { lock (_gate) return _unacked.Count; }
    }

    /// <summary>The highest sequence number the peer has acknowledged.</summary>
    public long AcknowledgedSequence
    {
        get { lock (_gate) return _acknowledged; }
    }

    // Under _gate: true when the queue was idle, so that the caller must ring the doorbell.
    private bool Schedule()
    {
        if (_scheduled) return false;
        _scheduled = true;
        return true;
    }

    // Under _gate: encodes one record into the open batch; its sequence number, or 0 when over the limit.
    private long AppendUnderLock(ReadOnlySpan<byte> body, MessageContentType contentType, byte[]? topicUtf8, long sentAtMicros, bool ackNow)
    {
        var recordSize = RecordSize(body.Length, topicUtf8);
        if (_pendingBytes > 0 && _pendingBytes + recordSize > _limitBytes) return 0;

        // A frame holds at most SegmentSize of records unless one alone is larger: never more records after that one
        // in the larger buffer it rented, whose frame could then be over the receiver's frame limit.
        if (_current is null || _currentLength + recordSize > SegmentSize)
        {
            SealCurrent();
            _current = RentSegment(_prefixSize + recordSize);
            _currentLength = _prefixSize;
            _currentCount = 0;
        }

        var span = _current.AsSpan(_currentLength);
        var sequence = ++_sequence;
        span[0] = (byte)((topicUtf8 is null ? 0 : BatchReader.FlagTopic) | (ackNow ? BatchReader.FlagAckNow : 0));
        span[1] = (byte)contentType;
        BinaryPrimitives.WriteInt64LittleEndian(span[2..], sequence);
        BinaryPrimitives.WriteInt64LittleEndian(span[10..], sentAtMicros);
        var pos = 18;
        if (topicUtf8 is not null)
        {
            span[pos] = (byte)topicUtf8.Length;
            topicUtf8.CopyTo(span[(pos + 1)..]);
            pos += 1 + topicUtf8.Length;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(span[pos..], (uint)body.Length);
        body.CopyTo(span[(pos + 4)..]);
        _largestBody = Math.Max(_largestBody, body.Length);
        _currentLength += recordSize;
        _currentCount++;
        _pendingBytes += recordSize;
        return sequence;
    }

    /// <summary>Poller thread: moves every queued frame into <paramref name="into"/> and marks the queue idle.
    /// The caller must give each buffer back with <see cref="Release"/> once it is on the wire.</summary>
    public void TakeAll(List<OutboundSegment> into)
    {
        lock (_gate)
        {
            SealCurrent();
            if (_sealed.Count > 0) _takenSequence = Math.Max(_takenSequence, _sealed[^1].LastSequence);
            into.AddRange(_sealed);
            _sealed.Clear();
            _scheduled = false;
        }
    }

    /// <summary>Poller thread: a frame taken by <see cref="TakeAll"/> that could not be sent yet goes back to the
    /// front of the queue, in order.</summary>
    public void PutBack(List<OutboundSegment> segments, int from)
    {
        lock (_gate)
        {
            _sealed.InsertRange(0, segments.Skip(from));
        }
    }

    /// <summary>Poller thread: frames taken by <see cref="TakeAll"/> that must wait (broadcasts, for the slowest peer's
    /// acknowledgements) go back to the front of the queue, which stays scheduled: senders do not ring the doorbell
    /// for each message meanwhile, and the poller comes back to it when the wait is over.</summary>
    public void Hold(List<OutboundSegment> segments, int from)
    {
        lock (_gate)
        {
            _sealed.InsertRange(0, segments.Skip(from));
            _scheduled = true;
        }
    }

    /// <summary>Poller thread: a frame is on the wire. It is kept until acknowledged, or released at once: also when
    /// it was sent again and the acknowledgement of its first sending came meanwhile (the data receiver takes
    /// acknowledgements on a thread of its own), which a later acknowledgement of the same sequence would not free.</summary>
    public void Sent(OutboundSegment segment)
    {
        if (RetainsUntilAcknowledged)
        {
            lock (_gate)
            {
                if (segment.LastSequence > _acknowledged)
                {
                    _unacked.Add(segment);
                    return;
                }
            }
        }
        Release(segment);
    }

    /// <summary>Poller thread: the peer has every message up to <paramref name="sequence"/>; frees their frames and
    /// completes the senders waiting for that.</summary>
    public void Acknowledge(long sequence)
    {
        List<OutboundSegment>? done = null;
        List<TaskCompletionSource>? waiters = null;
        lock (_gate)
        {
            if (sequence <= _acknowledged) return;
            // More than was taken for the wire acknowledges what was: a peer's stale ACK (one owed to an earlier
            // process of ours, or a confused peer) must not let a queued message's sender believe it arrived.
            _acknowledged = Math.Min(sequence, _takenSequence);
            while (_unacked.Count > 0 && _unacked[0].LastSequence <= _acknowledged)
            {
                (done ??= []).Add(_unacked[0]);
                _unacked.RemoveAt(0);
            }
            for (var i = _ackWaiters.Count - 1; i >= 0; i--)
            {
                if (_ackWaiters[i].Sequence > _acknowledged) continue;
                (waiters ??= []).Add(_ackWaiters[i].Done);
                _ackWaiters.RemoveAt(i);
            }
        }
        if (done is not null) foreach (var s in done) Release(s);
        if (waiters is not null) foreach (var w in waiters) w.TrySetResult();
    }

    /// <summary>Poller thread, at a new session: what was sent and not acknowledged goes out again, first.</summary>
    public int RequeueUnacknowledged()
    {
        lock (_gate)
        {
            var n = _unacked.Count;
            _sealed.InsertRange(0, _unacked);
            _unacked.Clear();
            return n;
        }
    }

    /// <summary>Poller thread: the peer's WELCOME told its MaxMessageSize. From now on a body over it is refused
    /// when it is appended, under the same lock as the append, so that a sender that checked the body before the
    /// WELCOME came (or waited for room meanwhile) cannot slip one past <see cref="WithdrawOver"/>.</summary>
    public void LimitBodies(int limit, string peer)
    {
        lock (_gate) (_peerLimit, _peerName) = (limit, peer);
    }

    // Under _gate.
    private void CheckPeerLimit(int length)
    {
        if (length > _peerLimit) throw new MessageTooLargeException(length, _peerLimit, _peerName);
    }

    /// <summary>Poller thread, when nothing of the queue is on the wire or being sent: a peer's queue when its WELCOME
    /// has told its MaxMessageSize (<see cref="RequeueUnacknowledged"/> has just brought back what was sent), the
    /// broadcast queue when the smallest limit among the peers falls. Every queued record whose body is over
    /// <paramref name="limit"/> is withdrawn. It keeps its place and sequence number, with the withdrawn flag and no
    /// body (docs/PROTOCOL.md, "Batches"): a record the peer would drop is not sent, and a frame over the peer's frame
    /// limit, which would end the connection each time it came, never goes. Returns the withdrawn records not yet
    /// acknowledged, in order.</summary>
    public List<WithdrawnRecord>? WithdrawOver(int limit)
    {
        List<WithdrawnRecord>? withdrawn = null;
        lock (_gate)
        {
            if (_largestBody <= limit) return null;
            SealCurrent();
            // Each frame keeps its buffer, which stays counted until the frame is released.
            for (var i = 0; i < _sealed.Count; i++) _sealed[i] = Withdraw(_sealed[i], limit, ref withdrawn);
            _largestBody = limit;
        }
        return withdrawn;
    }

    // Under _gate: rewrites the frame in place, each record over the limit without its topic and body.
    private OutboundSegment Withdraw(OutboundSegment segment, int limit, ref List<WithdrawnRecord>? withdrawn)
    {
        var frame = segment.Buffer.AsSpan(0, segment.Length);
        int read = _prefixSize, write = _prefixSize;
        for (var n = 0; n < segment.Count; n++)
        {
            var flags = frame[read];
            var topicSize = (flags & BatchReader.FlagTopic) != 0 ? 1 + frame[read + 18] : 0;
            var lengthAt = read + 18 + topicSize;
            var bodySize = (int)BinaryPrimitives.ReadUInt32LittleEndian(frame[lengthAt..]);
            var recordSize = Wire.RecordFixedSize + topicSize + bodySize;
            if (bodySize <= limit)
            {
                frame.Slice(read, recordSize).CopyTo(frame[write..]);
                write += recordSize;
            }
            else
            {
                // One the peer acknowledged (an earlier incarnation of it, in a frame partly acknowledged) was
                // delivered: it goes without its body all the same, and is no loss to report.
                var sequence = BinaryPrimitives.ReadInt64LittleEndian(frame[(read + 2)..]);
                if (sequence > _acknowledged) (withdrawn ??= []).Add(new WithdrawnRecord(sequence, bodySize, (flags & BatchReader.FlagAckNow) != 0));
                frame.Slice(read + 1, 17).CopyTo(frame[(write + 1)..]);
                frame[write] = (byte)(BatchReader.FlagWithdrawn | (flags & BatchReader.FlagAckNow));
                BinaryPrimitives.WriteUInt32LittleEndian(frame[(write + 18)..], 0);
                write += Wire.RecordFixedSize;
            }
            read += recordSize;
        }
        return segment with { Length = write };
    }

    /// <summary>The acknowledged send of <paramref name="sequence"/> fails with <paramref name="reason"/>: its
    /// record was withdrawn, and the acknowledgement that will come for its sequence number is no delivery. Its
    /// sender may not be waiting yet; it meets the failure when it begins to.</summary>
    public void Fail(long sequence, Exception reason)
    {
        TaskCompletionSource? waiter = null;
        lock (_gate)
        {
            var i = _ackWaiters.FindIndex(w => w.Sequence == sequence);
            if (i >= 0)
            {
                waiter = _ackWaiters[i].Done;
                _ackWaiters.RemoveAt(i);
            }
            else if (!_closed)
            {
                _failed[sequence] = reason;
            }
        }
        waiter?.TrySetException(reason);
    }

    /// <summary>Completes when the peer has acknowledged <paramref name="sequence"/>; fails when the queue closes.</summary>
    public Task WaitForAcknowledgementAsync(long sequence)
    {
        lock (_gate)
        {
            if (_failed.Remove(sequence, out var failure)) return Task.FromException(failure);
            if (sequence <= _acknowledged) return Task.CompletedTask;
            if (_closed) return Task.FromException(_closedBecause ?? new InvalidOperationException("queue closed"));
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _ackWaiters.Add((sequence, done));
            return done.Task;
        }
    }

    /// <summary>Poller thread: a frame is on the wire (or dropped); its room is free again.</summary>
    public void Release(OutboundSegment segment)
    {
        TaskCompletionSource? waiter = null;
        lock (_gate)
        {
            ReturnSegment(segment.Buffer);
            _pendingBytes -= segment.Buffer.Length - _prefixSize;
            if (_pendingBytes == 0 && _current is null) _largestBody = 0;
            if (_roomWaiter is not null && _pendingBytes < _limitBytes / 2)
            {
                waiter = _roomWaiter;
                _roomWaiter = null;
            }
        }
        waiter?.TrySetResult();
    }

    /// <summary>Completes when a record of <paramref name="recordSize"/> bytes may fit: the queue is empty, or under
    /// half its limit with room for it. A record that does not fit yet waits for the next frame released.</summary>
    public Task WaitForRoomAsync(int recordSize)
    {
        lock (_gate)
        {
            if (_closed || _pendingBytes == 0 || (_pendingBytes < _limitBytes / 2 && _pendingBytes + recordSize <= _limitBytes)) return Task.CompletedTask;
            _roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _roomWaiter.Task;
        }
    }

    /// <summary>Drops everything queued (and not acknowledged) and refuses further messages; senders waiting for
    /// an acknowledgement fail with <paramref name="reason"/>. Returns how many messages were dropped.</summary>
    public int Close(Exception? reason = null)
    {
        TaskCompletionSource? waiter;
        List<TaskCompletionSource> ackWaiters;
        var dropped = 0;
        lock (_gate)
        {
            _closed = true;
            _closedBecause = reason;
            SealCurrent();
            foreach (var s in _sealed.Concat(_unacked))
            {
                dropped += s.Count;
                ReturnSegment(s.Buffer);
            }
            _sealed.Clear();
            _unacked.Clear();
            _pendingBytes = 0;
            _largestBody = 0;
            _failed.Clear();
            waiter = _roomWaiter;
            _roomWaiter = null;
            ackWaiters = _ackWaiters.Select(w => w.Done).ToList();
            _ackWaiters.Clear();
        }
        waiter?.TrySetResult();
        foreach (var w in ackWaiters) w.TrySetException(reason ?? new InvalidOperationException("queue closed"));
        return dropped;
    }

    public bool IsClosed
    {
        get { lock (_gate) return _closed; }
    }

    private void SealCurrent()
    {
        if (_current is null) return;
        if (_currentCount == 0)
        {
            ReturnSegment(_current);
            _current = null;
            return;
        }
        var span = _current.AsSpan();
        Wire.WriteHeader(span, _type);
        if (_type == FrameType.Broadcast) _sender.WriteTo(span[Wire.HeaderSize..]);
        else BatchReader.WriteAck(span, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(span[(_prefixSize - 4)..], (uint)_currentCount);
        _sealed.Add(new OutboundSegment(_current, _currentLength, _currentCount, _sequence));
        // The rest of the buffer is held as long as the frame is: a frame of one small message, kept until it is
        // acknowledged, holds a whole segment, and the limit is on what the queue holds.
        _pendingBytes += _current.Length - _currentLength;
        _current = null;
    }

    /// <summary>Lets go of the recycled frames when nothing is queued or waiting for an acknowledgement, so that an
    /// idle link does not hold the memory of its last burst.</summary>
    public void TrimIfIdle()
    {
        lock (_gate)
        {
            if (_pendingBytes == 0 && _current is null) _free.Clear();
        }
    }

    // Under _gate.
    private byte[] RentSegment(int needed)
    {
        if (needed > SegmentSize) return ArrayPool<byte>.Shared.Rent(needed);
        return _free.TryPop(out var buffer) ? buffer : new byte[SegmentSize];
    }

    // Under _gate. Oversized frames came from the shared pool (whose arrays are powers of two above SegmentSize).
    private void ReturnSegment(byte[] buffer)
    {
        if (buffer.Length != SegmentSize) ArrayPool<byte>.Shared.Return(buffer);
        else if (_free.Count < _maxFreeSegments) _free.Push(buffer);
    }

    /// <summary>The bytes a record of that body and topic takes in a batch frame.</summary>
    public static int RecordSize(int bodyLength, byte[]? topicUtf8) => Wire.RecordFixedSize + (topicUtf8 is null ? 0 : 1 + topicUtf8.Length) + bodyLength;

    public static byte[]? EncodeTopic(string? topic)
    {
        if (topic is null) return null;
        byte[] bytes;
        try
        {
            bytes = StrictUtf8.GetBytes(topic);
        }
        catch (EncoderFallbackException)
        {
            // A lone surrogate: Encoding.UTF8 would send U+FFFD, and receivers would see another topic.
            throw new InvalidTopicException(topic);
        }
        if (bytes.Length is 0 or > Wire.MaxTopicBytes) throw new InvalidTopicException(topic);
        return bytes;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
