using Messenger.Protocol;
using NetMQ;

namespace Messenger.Transport;

// Acknowledging a peer's DATA: the sender keeps each frame until it is acknowledged. An ACK frame costs
// a frame, and a wake-up of the peer's threads, so it is not sent per frame: at once only when a record's sender
// waits for it, else after a few frames or within two milliseconds, or sooner, for free, in the ack field of our
// own next DATA to that peer.
internal sealed partial class NodeRuntime
{
    /// <summary>An unacknowledged DATA frame from a peer is acknowledged after this time, and one clock tick (the
    /// clock counts whole milliseconds), at the latest.</summary>
    private const int AckDelayMilliseconds = 1;

    /// <summary>Every this many DATA frames from a peer are acknowledged at once.</summary>
    private const int AckEveryFrames = 8;

    private readonly NetMQTimer _ackTimer;
    private readonly List<PeerLink> _acksDue = [];
    private long _acksOnLink;
    private long _acksInData;

    /// <summary>Tests: ACK frames this node sent on its peers' link sessions, and acknowledgements it carried in its
    /// own DATA.</summary>
    internal (long OnLink, long InData) AcksSent => (Interlocked.Read(ref _acksOnLink), Interlocked.Read(ref _acksInData));

    /// <summary>The peer's DATA frame was delivered: it is owed an ACK of everything delivered from it so far (up to
    /// <paramref name="last"/>), on <paramref name="on"/>, the session its DATA belongs to.</summary>
    private void Acknowledge(PeerLink link, RouterSession on, long last, bool now)
    {
        link.AckRoute = on;
        // Nothing was owed: what was went out, in our own DATA to the peer (an answer), or had never been.
        var fresh = link.OweAck(last) == 0;
        if (fresh) link.FramesOwed = 0;
        if (now || ++link.FramesOwed >= AckEveryFrames)
        {
            SendOwedAck(link);
            return;
        }
        ScheduleAck(link, fresh && link.BroadcastFramesOwed == 0);
    }

    /// <summary>The link owes an ACK or a BROADCAST_ACK: the timer sends what it owes a full delay after it began to
    /// owe it. The clock counts whole milliseconds, so a full delay is one tick more: one tick alone often ended
    /// within microseconds, before the reader's answer could carry the ACK, and cost a frame. When what the link
    /// owed went out in our own DATA meanwhile (<paramref name="afresh"/>: a conversation, where each answer carries
    /// the ACK), the delay starts again, so that the timer does not wake the node for nothing at every tick.</summary>
    private void ScheduleAck(PeerLink link, bool afresh)
    {
        var now = Environment.TickCount64;
        if (!link.AckScheduled)
        {
            link.AckScheduled = true;
            _acksDue.Add(link);
        }
        else if (!afresh)
        {
            return;
        }
        link.AckDueAt = now + AckDelayMilliseconds + 1;
        ArmAckTimer(now);
    }

    // Poller thread: the timer fires at the earliest time a due link waits for.
    private void ArmAckTimer(long now)
    {
        var first = long.MaxValue;
        foreach (var due in _acksDue) first = Math.Min(first, due.AckDueAt);
        _ackTimer.Interval = (int)Math.Clamp(first - now, 1, AckDelayMilliseconds + 1);
        _ackTimer.EnableAndReset();
    }

    private void SendOwedAck(PeerLink link)
    {
        link.FramesOwed = 0;
        var owed = link.TakeOwedAck();
        // Nothing owed: a sender took it onto the data connection. A session gone since: the peer sends again.
        if (owed == 0 || link.AckRoute is not { } route || !_routes.TryGetValue(route.RoutingId, out var live) || live != route) return;
        Reply(route, ControlFrames.Ack(owed));
        Interlocked.Increment(ref _acksOnLink);
    }

    private void OnAckTimer()
    {
        var now = Environment.TickCount64;
        for (var i = _acksDue.Count - 1; i >= 0; i--)
        {
            var link = _acksDue[i];
            if (link.State != PeerState.Gone && now < link.AckDueAt) continue;
            _acksDue.RemoveAt(i);
            link.AckScheduled = false;
            if (link.State == PeerState.Gone) continue;
            SendOwedAck(link);
            SendBroadcastAck(link);
        }
        if (_acksDue.Count > 0) ArmAckTimer(now);
        else _ackTimer.Enable = false;
    }

    /// <summary>Puts the ACK owed to the peer, if any, in the <c>ack</c> field of a DATA frame about to go to it (on any
    /// thread; on a data connection, under its gate): an acknowledgement that costs no frame of its own, and that the
    /// peer takes before it delivers the frame's messages. Returns it, for <see cref="SettleAckInData"/>.</summary>
    private static long PutOwedAckInData(PeerLink link, OutboundSegment segment)
    {
        var owed = link.TakeOwedAck();
        BatchReader.WriteAck(segment.Buffer, owed);
        return owed;
    }

    /// <summary>After the send of a frame from <see cref="PutOwedAckInData"/>: counts the ACK it carried, or owes it
    /// again when the frame did not go (it is stamped afresh when it does).</summary>
    private void SettleAckInData(PeerLink link, long ack, bool sent)
    {
        if (ack == 0) return;
        if (sent) Interlocked.Increment(ref _acksInData);
        else link.GiveBackOwedAck(ack);
    }

    /// <summary>Poller, when what was sent to the peer and not acknowledged goes again (a new session, or a data
    /// connection given up): a frame among it may have carried an ACK in its <c>ack</c> field and been lost, and its
    /// resending is stamped with what is owed then. So everything delivered from the peer is owed again; ACKs are
    /// cumulative, and the peer takes one it already had for nothing.</summary>
    private static void OweAckAgain(PeerLink link)
    {
        if (DeliveredUnicast(link) is > 0 and var delivered) link.OweAck(delivered);
    }

    /// <summary>The last unicast sequence delivered from the peer (0: none).</summary>
    private static long DeliveredUnicast(PeerLink link)
    {
        lock (link.DeliveryGate) return link.SequenceState[0];
    }

    /// <summary>The peer acknowledged our DATA (in an ACK, or in its own DATA): frees those frames, and lets a data
    /// connection that waited for them take over.</summary>
    private void OnAcknowledged(PeerLink link, long sequence)
    {
        link.Outbound.Acknowledge(sequence);
        if (link.Data is { State: DataConnectionState.Draining } draining) TryFinishDrain(link, draining);
        if (_leavesWaiting.Count > 0)
        {
            SayLeaveWhereDelivered();
            FinishLeaveIfDone();
        }
    }
}
