using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Messenger.Transport;

/// <summary>
/// The node's bounded queue of received messages. The poller hands over a whole batch frame's messages as one
/// array through a lock-free queue, and a reader takes one array at a time, so that neither takes a lock, nor
/// wakes the other, per message: with a per-message channel, and then with a lock per batch, the poller spent a
/// quarter of its time waiting for a reader that had been descheduled holding the lock.
/// </summary>
internal sealed class ReceiveQueue
{
    private readonly ConcurrentQueue<MessengerMessage[]> _batches = new();
    private readonly Lock _readGate = new();

    // Two threads write: the poller and the data receiver. Uncontended nearly always, and held for one batch.
    private readonly Lock _writeGate = new();
    private readonly int _capacity;
    private readonly ReceiveFullMode _fullMode;
    private readonly Action<MessengerMessage> _onDropped;
    private int _queued;

    // The batch a reader is working through, under _readGate.
    private MessengerMessage[] _current = [];
    private int _index;
    private int _currentRemaining;

    private volatile bool _completed;
    private TaskCompletionSource<bool>? _waiter;

    public ReceiveQueue(int capacity, ReceiveFullMode fullMode, Action<MessengerMessage> onDropped)
    {
        _capacity = capacity;
        _fullMode = fullMode;
        _onDropped = onDropped;
    }

    /// <summary>A write completed a reader that was waiting for messages (the poller clears it before each wake-up of
    /// its ROUTER; it looks at it only on nodes without a data receiver).</summary>
    public bool LastWriteWokeReader { get; set; }

    /// <summary>How many messages wait to be read.</summary>
    public int Count => Volatile.Read(ref _queued) + Volatile.Read(ref _currentRemaining);

    /// <summary>The node's poller (broadcasts, and unicast on a link's own connection) or its data receiver (unicast
    /// on data connections), one at a time: queues the messages in order and returns how many were accepted; each
    /// one the full queue turns away (or, in <see cref="ReceiveFullMode.DropOldest"/>, pushes out) goes to the drop
    /// callback.</summary>
    public int Write(List<MessengerMessage> batch)
    {
        if (batch.Count == 0 || _completed) return 0;
        List<MessengerMessage>? dropped = null;
        int accepted;
        lock (_writeGate)
        {
            if (_fullMode == ReceiveFullMode.DropOldest)
            {
                dropped = DropOldest(batch);
                accepted = Math.Min(batch.Count, _capacity);
                Enqueue(batch, batch.Count - accepted, accepted);
            }
            else
            {
                accepted = Math.Clamp(_capacity - Count, 0, batch.Count);
                if (accepted > 0) Enqueue(batch, 0, accepted);
                if (accepted < batch.Count) dropped = batch.GetRange(accepted, batch.Count - accepted);
            }
        }
        if (dropped is not null) foreach (var m in dropped) _onDropped(m);
        return accepted;
    }

    /// <summary>No more messages will come; readers finish what is queued, then see the end.</summary>
    public void Complete()
    {
        _completed = true;
        Interlocked.Exchange(ref _waiter, null)?.TrySetResult(false);
    }

    public bool TryRead([NotNullWhen(true)] out MessengerMessage? message)
    {
        lock (_readGate)
        {
            if (_index == _current.Length && !TakeNextBatch())
            {
                message = null;
                return false;
            }
            message = _current[_index];
            _current[_index++] = null!;
            Volatile.Write(ref _currentRemaining, _current.Length - _index);
            return true;
        }
    }

    /// <summary>Moves up to <paramref name="max"/> waiting messages into <paramref name="into"/>; returns how many.</summary>
    public int TryReadMany(List<MessengerMessage> into, int max)
    {
        var taken = 0;
        lock (_readGate)
        {
            while (taken < max && (_index < _current.Length || TakeNextBatch()))
            {
                var n = Math.Min(max - taken, _current.Length - _index);
                for (var i = 0; i < n; i++)
                {
                    into.Add(_current[_index]);
                    _current[_index++] = null!;
                }
                taken += n;
            }
            Volatile.Write(ref _currentRemaining, _current.Length - _index);
        }
        return taken;
    }

    /// <summary>True when a message is waiting (now or later); false once the queue is complete and empty.</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken)
    {
        if (Count > 0) return new ValueTask<bool>(true);
        if (_completed) return new ValueTask<bool>(Count > 0);
        var mine = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = Interlocked.CompareExchange(ref _waiter, mine, null) ?? mine;
        // The writer queues, then takes the waiter: whatever it queued before we published ours, we see here.
        if (Count > 0 || _completed)
        {
            Interlocked.CompareExchange(ref _waiter, null, waiter);
            // The waiter may be another reader's: false would tell it the node stopped, so it says only "look
            // again" unless the queue is complete and empty. A reader woken with nothing to read waits again.
            var more = Count > 0 || !_completed;
            waiter.TrySetResult(more);
            return new ValueTask<bool>(more);
        }
        return cancellationToken.CanBeCanceled ? new ValueTask<bool>(waiter.Task.WaitAsync(cancellationToken)) : new ValueTask<bool>(waiter.Task);
    }

    private void Enqueue(List<MessengerMessage> batch, int start, int count)
    {
        var array = new MessengerMessage[count];
        batch.CopyTo(start, array, 0, count);
        _batches.Enqueue(array);
        Interlocked.Add(ref _queued, count);
        if (Interlocked.Exchange(ref _waiter, null) is { } waiter)
        {
            LastWriteWokeReader = true;
            waiter.TrySetResult(true);
        }
    }

    // Writer, DropOldest: makes room for the batch by dropping the oldest waiting messages, and, when the batch
    // alone is over the capacity, its own first ones (which the caller does not queue). The excess is counted under
    // the readers' gate: counted before it, a reader could take messages meanwhile, and the batch's own messages
    // would make up the difference, reported dropped and delivered all the same.
    private List<MessengerMessage>? DropOldest(List<MessengerMessage> batch)
    {
        List<MessengerMessage> dropped;
        int excess;
        lock (_readGate)
        {
            excess = Count + batch.Count - _capacity;
            if (excess <= 0) return null;
            dropped = new List<MessengerMessage>(excess);
            while (dropped.Count < excess && (_index < _current.Length || TakeNextBatch()))
            {
                dropped.Add(_current[_index]);
                _current[_index++] = null!;
            }
            Volatile.Write(ref _currentRemaining, _current.Length - _index);
        }
        for (var i = 0; dropped.Count < excess && i < batch.Count; i++) dropped.Add(batch[i]);
        return dropped;
    }

    // Under _readGate, with the current batch used up.
    private bool TakeNextBatch()
    {
        if (!_batches.TryDequeue(out var next)) return false;
        // Counted as current before it stops counting as queued: Count may read high for a moment, never 0 with
        // messages waiting (a reader that read 0 would wait while they do).
        _current = next;
        _index = 0;
        Volatile.Write(ref _currentRemaining, next.Length);
        Interlocked.Add(ref _queued, -next.Length);
        return true;
    }
}
