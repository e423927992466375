using System.Collections.Concurrent;
using System.Diagnostics;

namespace Messenger.Transport;

// Waiting for a reply: after the poller hands unicast messages to a reader that was waiting for them, it stays awake
// a moment for what that reader sends back, instead of going to sleep in poll(2) and being woken for it.
internal sealed partial class NodeRuntime
{
    /// <summary>How long the poller waits for a reply after it woke a reader. A reader that answers at once does so
    /// within 10-20 us here (the thread pool's hand-over is 7-10 us of it); waking the sleeping poller instead cost
    /// 30-40 us, twice per round trip.</summary>
    private static readonly TimeSpan DefaultReplyWait = TimeSpan.FromMicroseconds(50);

    /// <summary>Waits that find no reply in a row before the poller stops waiting for a while, and how many
    /// deliveries it then lets pass: 32 at first, twice as many each time up to 4096, back to 32 when a reply is
    /// caught. A reader that does not answer (a receiver under a flood) soon costs a wait per thousands of
    /// deliveries.</summary>
    private const int ReplyWaitMisses = 3;
    private const int FirstReplyWaitPause = 32;
    private const int MaxReplyWaitPause = 4096;

    // The queues senders want flushed. A sender adds its queue here, and posts a flush to the poller unless one is
    // posted and not yet begun, or the poller is waiting for a reply (it watches this queue then).
    private readonly ConcurrentQueue<OutboundQueue> _handoff = new();
    private int _flushPosted;
    private int _awaitingReply;
    private int _replyWaitMisses;
    private int _replyWaitsSkipped;
    private int _replyWaitPause = FirstReplyWaitPause;
    private long _replyWaits;
    private long _repliesCaught;

    /// <summary>Tests: how long the poller waits for a reply (zero: it does not).</summary>
    internal TimeSpan ReplyWait { get; set; } = DefaultReplyWait;

    /// <summary>Tests: how often the poller waited for a reply, and how often one came while it did.</summary>
    internal (long Waits, long Caught) ReplyWaitCounts => (Interlocked.Read(ref _replyWaits), Interlocked.Read(ref _repliesCaught));

    /// <summary>Any thread: tells the poller that <paramref name="queue"/> has something to send. While the poller
    /// waits for a reply it finds the queue in the hand-over queue it is watching; else a flush posted to it, one for
    /// however many rings come before it begins, wakes it.</summary>
    private void RingDoorbell(OutboundQueue queue)
    {
        _handoff.Enqueue(queue);
        // The poller clears each flag before it empties the hand-over queue. The full fence orders our enqueue before
        // the looks that follow: either we see a flag still set (and the poller will find our queue), or we post.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _awaitingReply) != 0) return;
        // A flush that fails is restarted as a flush: until one clears the flag, no sender posts another.
        if (Interlocked.Exchange(ref _flushPosted, 1) == 0) Post(FlushHandedOver, restart: FlushHandedOver);
    }

    /// <summary>Poller thread, after a wake-up that woke a waiting reader: while the reply path goes through the
    /// poller (direct sends turned off), waits up to <see cref="ReplyWait"/> for a sender's hand-over
    /// and flushes it at once. The wait yields the processor between spins, so that the reader's thread and NetMQ's
    /// can run on a machine with few cores.</summary>
    private void AwaitReply()
    {
        // The ROUTER's handler clears the flag before each wake-up's reading.
        if (!_received.LastWriteWokeReader) return;
        if (ReplyWait <= TimeSpan.Zero || _options.DirectSends) return;
        if (_replyWaitsSkipped > 0)
        {
            _replyWaitsSkipped--;
            return;
        }
        Interlocked.Increment(ref _replyWaits);
        var caught = false;
        var deadline = Stopwatch.GetTimestamp() + (long)(ReplyWait.TotalSeconds * Stopwatch.Frequency);
        Volatile.Write(ref _awaitingReply, 1);
        try
        {
            var spinner = new SpinWait();
            while (!caught && Stopwatch.GetTimestamp() < deadline)
            {
                if (_handoff.IsEmpty) spinner.SpinOnce(sleep1Threshold: -1);
                else caught = true;
            }
        }
        finally
        {
            Interlocked.Exchange(ref _awaitingReply, 0);
            caught |= !_handoff.IsEmpty;
            FlushHandedOver();
        }
        if (caught)
        {
            Interlocked.Increment(ref _repliesCaught);
            _replyWaitMisses = 0;
            _replyWaitPause = FirstReplyWaitPause;
        }
        else if (++_replyWaitMisses >= ReplyWaitMisses)
        {
            _replyWaitMisses = 0;
            _replyWaitsSkipped = _replyWaitPause;
            _replyWaitPause = Math.Min(_replyWaitPause * 2, MaxReplyWaitPause);
        }
    }

    /// <summary>Poller thread: flushes every queue handed over.</summary>
    private void FlushHandedOver()
    {
        Volatile.Write(ref _flushPosted, 0);
        Interlocked.MemoryBarrier();
        while (_handoff.TryDequeue(out var queue)) Flush(queue);
    }
}
