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

    // What senders hand over while the poller waits: the queue it must flush, in place of a doorbell ring.
    private readonly ConcurrentQueue<OutboundQueue> _handoff = new();
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

    /// <summary>Any thread: tells the poller that <paramref name="queue"/> has something to send. While it waits
    /// for a reply, through the hand-over queue it is watching; else by the doorbell, which wakes it.</summary>
    private void RingDoorbell(OutboundQueue queue)
    {
        if (Volatile.Read(ref _awaitingReply) != 0)
        {
            _handoff.Enqueue(queue);
            // The poller clears the flag and then empties the hand-over queue: the full fence orders our enqueue
            // before this second look, so that either it sees the flag still set (and will empty the queue), or we
            // see it cleared and ring as well (a queue flushed twice has nothing left the second time).
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref _awaitingReply) != 0) return;
        }
        _doorbell.Enqueue(queue);
    }

    /// <summary>Poller thread, after a wake-up that woke a waiting reader: while the reply path goes through the
    /// poller (protocol 1, or direct sends turned off), waits up to <see cref="ReplyWait"/> for a sender's hand-over
    /// and flushes it at once. The wait yields the processor between spins, so that the reader's thread and NetMQ's
    /// can run on a machine with few cores.</summary>
    private void AwaitReply()
    {
        // The ROUTER's handler clears the flag before each wake-up's reading.
        if (!_received.LastWriteWokeReader) return;
        if (ReplyWait <= TimeSpan.Zero || (Secure && _options.DirectSends)) return;
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

    private void FlushHandedOver()
    {
        while (_handoff.TryDequeue(out var queue)) Flush(queue);
    }
}
