using Messenger.Internal;
using Messenger.Protocol;

namespace Messenger.Transport;

// Broadcast flow control (docs/PROTOCOL.md, "Broadcast flow control"): a node acknowledges the broadcasts it
// receives with BROADCAST_ACK on its link to their sender, and a sender publishes at most a window of frames past
// what the slowest peer its broadcasts reach has acknowledged. A peer that acknowledges nothing for PeerTimeout
// while the window is full is left behind until it acknowledges again.
internal sealed partial class NodeRuntime
{
    /// <summary>Broadcast frames in flight past the slowest peer's acknowledgement: 4 MiB of full frames. With 8 the
    /// broadcaster waited on every round trip (1.5-1.6M deliveries/s in the benchmark against 2.3-2.6M with 32); 64
    /// rides out a receiver descheduled for a moment on two cores (5.2-6.6M against 4.9-5.8M with 32 at 64 B, in
    /// three alternating pairs; 1 KiB the same).</summary>
    private const int BroadcastWindowFrames = 64;

    /// <summary>Frames ZeroMQ queues for one subscriber of the PUB socket before it drops them for that subscriber
    /// (NetMQ's default): what a stranger that subscribes and reads nothing can make a node hold. A member keeps within
    /// the window, and one left behind counts what it misses. A mark of 128 made members that kept within the window
    /// lose frames in the tests: the socket judges a pipe full by what it last heard of the frames read from it,
    /// which lags.</summary>
    private const int PublisherHighWatermarkFrames = 1000;

    /// <summary>Frames a node's subscriber to a peer holds before ZeroMQ stops reading that peer's frames.</summary>
    private const int SubscriberHighWatermarkFrames = 10_000;

    /// <summary>Every this many broadcast frames from a peer are acknowledged at once; fewer, within the ACK delay.</summary>
    private const int BroadcastAckEveryFrames = 4;

    private readonly BroadcastWindow _broadcastWindow = new(BroadcastWindowFrames);
    private bool _broadcastHeld;
    private long _broadcastHeldSince;
    private long _peersLeftBehind;
    private bool _publisherMadeAnew;

    /// <summary>Tests: raised on the poller thread when publishing starts (true) or stops (false) waiting for
    /// acknowledgements.</summary>
    internal event Action<bool>? BroadcastHeldChanged;

    /// <summary>Tests: broadcast frames in flight, whether publishing waits for acknowledgements, and how many times a
    /// peer was left behind.</summary>
    internal Task<(int InFlight, bool Held, long LeftBehind)> BroadcastWindowAsync() =>
        InvokeAsync(() => (_broadcastWindow.Count, _broadcastHeld, _peersLeftBehind));

    /// <summary>A broadcast frame from the peer was delivered: it is owed a BROADCAST_ACK.</summary>
    private void OweBroadcastAck(PeerLink link)
    {
        if (++link.BroadcastFramesOwed >= BroadcastAckEveryFrames) SendBroadcastAck(link);
        else ScheduleAck(link, afresh: false);
    }

    private void SendBroadcastAck(PeerLink link)
    {
        if (link.BroadcastFramesOwed == 0 || Faults.MuteBroadcastAcks) return;
        if (SendOnLink(link, ControlFrames.BroadcastAck(link.SequenceState[1])))
        {
            link.BroadcastFramesOwed = 0;
            return;
        }
        // Not sent (the link's DEALER is full, or its session is being made again): still owed, and tried again
        // after the ACK delay, else the broadcaster would wait for it until it left this node behind.
        if (link.Session is not null) ScheduleAck(link, afresh: false);
    }

    /// <summary>The peer has our broadcasts up to <paramref name="sequence"/>; a peer left behind counts again.</summary>
    private void OnBroadcastAck(PeerLink link, long sequence)
    {
        var acked = Math.Min(sequence, _broadcastWindow.LastPublished);
        if (acked > link.BroadcastAcked)
        {
            link.BroadcastAcked = acked;
            link.BroadcastAckedAt = Environment.TickCount64;
            link.BroadcastLeftBehind = false;
        }
        if (_broadcastHeld) Guard("broadcast", FlushBroadcast, RestartPublisher);
        if (_leavesWaiting.Count > 0)
        {
            SayLeaveWhereDelivered();
            FinishLeaveIfDone();
        }
    }

    /// <summary>Poller: the peer is connected and has said that our broadcasts reach it.</summary>
    private static bool ReachedByBroadcasts(PeerLink link) => link.State == PeerState.Connected && link.TheyHearOurBroadcast;

    /// <summary>Poller: the peer counts in the broadcast window: our broadcasts reach it, and it was not left behind.</summary>
    private static bool CountsInBroadcastWindow(PeerLink link) =>
        link.BroadcastAcked >= 0 && !link.BroadcastLeftBehind && ReachedByBroadcasts(link);

    /// <summary>Poller: how many of our published broadcasts a peer that counts in the window has not acknowledged.</summary>
    private int BroadcastsUnacknowledged(PeerLink link) =>
        CountsInBroadcastWindow(link) ? (int)Math.Max(0, _broadcastWindow.LastPublished - link.BroadcastAcked) : 0;

    /// <summary>Poller, while leaving: the peer is still to get or acknowledge broadcasts of ours (some wait to be
    /// published while the window is full, or until the peer hears a publisher made anew). A peer out of the window
    /// (left behind, or unreachable) acknowledges nothing, but its LEAVE says where our stream ends (see
    /// <see cref="BroadcastFloor"/>): it waits until everything is published and the peers in the window have
    /// acknowledged it, else that peer's losses past <paramref name="floor"/> would be counted by no one.</summary>
    private bool OwesBroadcastAcks(PeerLink link, long floor) =>
        BroadcastsUnacknowledged(link) > 0
        || (_broadcastHeld && (link.TheyHearOurBroadcast || link.ProbingForPublisher))
        || (link.TheyHearOurBroadcast && !CountsInBroadcastWindow(link) && floor < _broadcastWindow.LastPublished);

    /// <summary>Poller, while leaving: the highest broadcast every peer in the window that the leave still waits for
    /// has acknowledged (the last published when none owes any; one told LEAVE already had everything). A LEAVE
    /// claims no further: a leave out of time counts what lies beyond it dropped, once for all peers, and a peer's
    /// LEAVE must not have it counted missed as well.</summary>
    private long BroadcastFloor()
    {
        var floor = _broadcastWindow.LastPublished;
        foreach (var link in _leavesWaiting)
        {
            if (CountsInBroadcastWindow(link)) floor = Math.Min(floor, link.BroadcastAcked);
        }
        return floor;
    }

    /// <summary>Poller: the peer now counts in the broadcast window (connected, and hearing our broadcasts). It owes
    /// acknowledgements of what is published from now on, not of what was before; one that acknowledges nothing
    /// holds the window after <see cref="BroadcastWindowFrames"/> frames.</summary>
    private void StartCountingBroadcasts(PeerLink link)
    {
        if (link.BroadcastAcked >= 0 || !ReachedByBroadcasts(link)) return;
        link.BroadcastAcked = _broadcastWindow.LastPublished;
        link.BroadcastAckedAt = Environment.TickCount64;
    }

    /// <summary>Poller: our broadcasts may no longer reach the peer (a RESET, a restart, a new address) until it says
    /// again that it hears them; then it counts afresh.</summary>
    private static void StopCountingBroadcasts(PeerLink link)
    {
        link.TheyHearOurBroadcast = false;
        link.BroadcastAcked = -1;
        link.BroadcastLeftBehind = false;
    }

    /// <summary>True while a peer that heard our publisher before it was made anew has not said that it hears the new
    /// one, for PeerTimeout at most: what is published meanwhile would be lost to it, and a restart loses no
    /// accepted message. Costs a look at a flag while no publisher was made anew.</summary>
    private bool WaitingForSubscribers()
    {
        if (!_publisherMadeAnew) return false;
        var now = Environment.TickCount64;
        var limit = (long)_options.PeerTimeout.TotalMilliseconds;
        foreach (var link in _peers.Values)
        {
            if (link.ProbingForPublisher && now - link.ProbingForPublisherSince < limit) return true;
        }
        _publisherMadeAnew = false;
        return false;
    }

    /// <summary>True when no more broadcast frames may be published until the slowest peer acknowledges some. Takes
    /// what every peer has acknowledged out of the window first; peers that our broadcasts do not reach (yet, or any
    /// more) do not count, and one that starts to count owes nothing published before.</summary>
    private bool BroadcastWindowFull()
    {
        if (!_broadcastWindow.IsFull) return false;
        var floor = long.MaxValue;
        foreach (var link in _peers.Values)
        {
            if (!ReachedByBroadcasts(link))
            {
                link.BroadcastAcked = -1;
                link.BroadcastLeftBehind = false;
                continue;
            }
            if (link.BroadcastLeftBehind) continue;
            if (link.BroadcastAcked < 0)
            {
                link.BroadcastAcked = _broadcastWindow.LastPublished;
                link.BroadcastAckedAt = Environment.TickCount64;
            }
            floor = Math.Min(floor, link.BroadcastAcked);
        }
        _broadcastWindow.AcknowledgedUpTo(floor);
        return _broadcastWindow.IsFull;
    }

    /// <summary>Tick, while publishing waits: a peer that has acknowledged nothing for PeerTimeout since the wait
    /// began no longer holds the others back (it may miss broadcasts; its link itself is judged by heartbeats).</summary>
    private void LeaveStalledPeersBehind(long now)
    {
        if (!_broadcastHeld) return;
        var limit = (long)_options.PeerTimeout.TotalMilliseconds;
        foreach (var link in _peers.Values)
        {
            if (link.BroadcastAcked < 0 || link.BroadcastLeftBehind || link.BroadcastAcked >= _broadcastWindow.LastPublished) continue;
            // One our broadcasts no longer reach stops counting at the next look at the window, without a warning.
            if (!ReachedByBroadcasts(link)) continue;
            var waited = now - Math.Max(link.BroadcastAckedAt, _broadcastHeldSince);
            if (waited < limit) continue;
            link.BroadcastLeftBehind = true;
            _peersLeftBehind++;
            Log.BroadcastLeftBehind(_logger, link.Name, waited, _broadcastWindow.Count);
        }
        Guard("broadcast", FlushBroadcast, RestartPublisher);
    }

    private void SetBroadcastHeld(bool held)
    {
        if (_broadcastHeld == held) return;
        _broadcastHeld = held;
        if (held) _broadcastHeldSince = Environment.TickCount64;
        BroadcastHeldChanged?.Invoke(held);
    }

    private long _lastTail;
    private long _lastTailAt;

    /// <summary>Tick, once a second, and while leaving: where our broadcast stream stands, published behind every
    /// frame so far. A receiver sees a gap only behind a later frame: one that lagged so far that ZeroMQ dropped frames
    /// to it, or whose frames were lost otherwise, would not learn of the loss while nothing more was broadcast (nor
    /// acknowledge it: a leave would wait for it). Every second, as a tail may be dropped too (the lagging peer's pipe
    /// is full), and this node cannot tell which peer got what: one that stopped acknowledging counts afresh when it
    /// comes back. Not while peers are yet to hear a publisher made anew: publishing waits for them, and so does the
    /// tail of what is published.</summary>
    private void PublishBroadcastTail()
    {
        var last = _broadcastWindow.LastPublished;
        if (last == 0 || WaitingForSubscribers()) return;
        var tail = ControlFrames.BroadcastTail(Id, last);
        Guard("broadcast", () => Publish(tail, tail.Length), RestartPublisher);
        (_lastTail, _lastTailAt) = (last, Environment.TickCount64);
    }

    /// <summary>Leave tick: a tail behind what was published since the last one, or a second after it.</summary>
    private void PublishBroadcastTailWhileLeaving(long now)
    {
        if (_broadcastWindow.LastPublished != _lastTail || now - _lastTailAt >= GossipMilliseconds) PublishBroadcastTail();
    }

    /// <summary>The peer's BROADCAST_TAIL: it published up to <paramref name="last"/> before it, on the same pipe, so
    /// what has not arrived by now never will. Counted as missed, and acknowledged, so that its sender does not wait
    /// for it or count it dropped.</summary>
    private void OnBroadcastTail(PeerLink link, long last)
    {
        if (CountBroadcastsMissedUpTo(link, last)) OweBroadcastAck(link);
    }

    /// <summary>The peer's LEAVE: it published up to <paramref name="lastBroadcast"/> (0: it claims nothing). What of
    /// it waits in our subscriber is delivered first; what has not arrived by then is counted missed, as the link and
    /// its subscriber are about to close. This covers a peer that its sender left behind: its pipe was full, so
    /// ZeroMQ dropped the tail too, and the sender counts nothing for it. Frames still on their way (a LEAVE to a
    /// peer out of the window does not wait for them, and they travel on another connection) are counted missed
    /// too: the loop does not wait for them, else a member could hold it with a trickle of frames behind a LEAVE.</summary>
    private void OnLeaveClaim(PeerLink link, long lastBroadcast)
    {
        // Before the count of the peer's broadcasts starts, nothing is counted missed: no drain.
        if (lastBroadcast == 0 || !link.HearsTheirBroadcast || (!link.CountsTheirBroadcasts && link.SequenceState[1] == 0)) return;
        Guard(LinkActor(link), () =>
        {
            for (var i = 0; i < MaxLeaveDrainWakeups && OnSubscriberReady(link) == MaxFramesPerWakeup; i++)
            {
            }
        });
        CountBroadcastsMissedUpTo(link, lastBroadcast);
    }

    // What our subscriber holds, and what the peer's publisher still held for us when it left.
    private const int MaxLeaveDrainWakeups = (SubscriberHighWatermarkFrames + PublisherHighWatermarkFrames) / MaxFramesPerWakeup + 1;

    /// <summary>Poller, at the peer's PUB_PROBE: its broadcasts are counted from where it says its stream stood, if
    /// they were not counted yet. From then on, what never arrives is a gap, even before the first broadcast heard:
    /// a link made anew (its subscriber with it) after that probe loses what was published meanwhile, and the count
    /// shows it. A probe again (a restarted link, a publisher made anew) leaves a started count as it is.</summary>
    private static void StartCountingTheirBroadcasts(PeerLink link, long lastPublished)
    {
        lock (link.DeliveryGate)
        {
            if (link.CountsTheirBroadcasts || link.SequenceState[1] > 0) return;
            link.SequenceState[1] = lastPublished;
            link.CountsTheirBroadcasts = true;
        }
    }

    /// <summary>The peer's broadcast stream stands at <paramref name="last"/>: what has not been delivered from it up
    /// to there is counted missed. False when nothing was new.</summary>
    private bool CountBroadcastsMissedUpTo(PeerLink link, long last)
    {
        long missed;
        lock (link.DeliveryGate)
        {
            ref var highest = ref link.SequenceState[1];
            if (last <= highest) return false;
            // As with a frame: without the peer's PUB_PROBE to start it, the first broadcast heard starts the count.
            missed = highest > 0 || link.CountsTheirBroadcasts ? last - highest : 0;
            highest = last;
        }
        if (missed > 0) OnBroadcastsMissed(link, missed);
        return true;
    }

    /// <summary>Broadcasts of the peer's never delivered here: published while our subscription was down, dropped
    /// by ZeroMQ past its high-water mark while we lagged far behind (a peer its broadcaster left behind), lost with
    /// the peer's failed publisher, or in a frame we rejected. Counted at once; logged (event 1304) and raised as
    /// MessageDropped at most once a second per peer, summed, so that a long run of losses does not flood either.</summary>
    private void OnBroadcastsMissed(PeerLink link, long count)
    {
        Interlocked.Add(ref _broadcastsMissed, count);
        Telemetry.BroadcastsMissed.Add(count, _nodeTag);
        link.BroadcastsMissedUnreported += count;
        ReportMissedBroadcasts(link, Environment.TickCount64, force: false);
    }

    /// <summary>Logs and raises what the peer's stream missed since the last report: when a second has passed since
    /// then, or at once when <paramref name="force"/> (the peer is going).</summary>
    private void ReportMissedBroadcasts(PeerLink link, long now, bool force)
    {
        var count = link.BroadcastsMissedUnreported;
        if (count == 0 || (!force && now - link.BroadcastsMissedReportedAt < 1000)) return;
        link.BroadcastsMissedUnreported = 0;
        link.BroadcastsMissedReportedAt = now;
        Log.BroadcastsMissed(_logger, count, link.Name);
        if (MessageDropped is null) return;
        var peer = link.Name;
        Raise(nameof(MessageDropped), () => InvokeEach(MessageDropped, new MessageDroppedEventArgs(null, peer, $"{count} broadcasts missed: gaps in the peer's sequence, never delivered here", count)));
    }
}
