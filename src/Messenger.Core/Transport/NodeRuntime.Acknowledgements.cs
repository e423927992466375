using Messenger.Protocol;
using NetMQ;

namespace Messenger.Transport;

// Acknowledging a peer's DATA (protocol 2): the sender keeps each frame until it is acknowledged. An ACK costs a
// frame, and a wake-up of the peer's threads, so it is not sent per frame: at once only when a record's sender waits
// for it, else after a few frames or within a millisecond, or sooner, for free, ahead of a message of ours on our
// data connection to that peer.
internal sealed partial class NodeRuntime
{
    /// <summary>An unacknowledged DATA frame from a peer is acknowledged within this time at the latest.</summary>
    private const int AckDelayMilliseconds = 1;

    /// <summary>Every this many DATA frames from a peer are acknowledged at once.</summary>
    private const int AckEveryFrames = 8;

    private readonly NetMQTimer _ackTimer;
    private readonly List<PeerLink> _acksDue = [];
    private long _acksOnLink;
    private long _acksOnData;

    /// <summary>Tests: ACKs this node sent on its peers' link sessions, and ahead of its DATA on data connections.</summary>
    internal (long OnLink, long OnData) AcksSent => (Interlocked.Read(ref _acksOnLink), Interlocked.Read(ref _acksOnData));

    /// <summary>The peer's DATA frame was delivered: it is owed an ACK of everything delivered from it so far, on
    /// <paramref name="on"/>, the session its DATA belongs to.</summary>
    private void Acknowledge(PeerLink link, RouterSession on, bool now)
    {
        if (link.OweAck(link.SequenceState[0]) == 0) link.FramesOwed = 0;
        link.AckRoute = on;
        if (now || ++link.FramesOwed >= AckEveryFrames)
        {
            SendOwedAck(link);
            return;
        }
        if (link.AckScheduled) return;
        link.AckScheduled = true;
        _acksDue.Add(link);
        _ackTimer.Enable = true;
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
        foreach (var link in _acksDue)
        {
            link.AckScheduled = false;
            if (link.State != PeerState.Gone) SendOwedAck(link);
        }
        _acksDue.Clear();
        _ackTimer.Enable = false;
    }

    /// <summary>Under the data connection's gate, on any thread: sends the ACK owed to the peer, if any, on the data
    /// connection, ahead of the DATA that follows, so that the peer takes it before it delivers that DATA.</summary>
    private void SendOwedAckOnData(PeerLink link, DataConnection data)
    {
        var owed = link.TakeOwedAck();
        if (owed == 0) return;
        if (TrySendOnData(data, ControlFrames.Ack(owed))) Interlocked.Increment(ref _acksOnData);
        else link.GiveBackOwedAck(owed);
    }
}
