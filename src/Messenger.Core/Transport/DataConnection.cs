namespace Messenger.Transport;

/// <summary>
/// A second DEALER to a peer with a session of its own, used only to send DATA: it shakes hands on the peer's
/// unicast ROUTER, then moves to the peer's data port with the same routing id. It is not in the poller once its
/// handshake is done, so that a sender may seal and send on it from its own thread, under <see cref="Gate"/>, when
/// the link is idle: a message then goes out without waiting for the poller to wake. The peer acknowledges what
/// arrives on it on the link's own connection (docs/PROTOCOL.md, "Data connections").
/// It has no monitor (a socket more for the poller to look at on every wake-up): when its TCP connection breaks,
/// ZeroMQ connects it again, the peer answers the first frame after the lost ones with RESET (or any frame, once
/// it no longer knows the session), and the node's tick reads that RESET; the tick also gives up one on which
/// nothing is acknowledged for a while (a data port out of reach).
/// </summary>
internal sealed class DataConnection : IDisposable
{
    private volatile bool _ready;

    public DataConnection(DealerSession session, string endpoint)
    {
        Session = session;
        Endpoint = endpoint;
    }

    public DealerSession Session { get; }

    /// <summary>The peer's unicast endpoint, where the connection shakes hands before it moves to the data port.</summary>
    public string Endpoint { get; }

    /// <summary>Held by whoever touches the socket once it is out of the poller: a sender, or the poller.</summary>
    public Lock Gate { get; } = new();

    /// <summary>Poller thread only.</summary>
    public DataConnectionState State { get; private set; }

    /// <summary>In the poller (while shaking hands): only the poller thread may touch the socket.</summary>
    public bool InPoller { get; set; } = true;

    /// <summary>The socket refused a frame (high-water mark): the poller tries again on its retry timer. Under <see cref="Gate"/>.</summary>
    public bool Blocked { get; set; }

    /// <summary>Read by senders without the gate, and again under it.</summary>
    public bool IsReady => _ready;

    /// <summary>Poller thread: the link's acknowledged sequence when the tick last saw it move (or saw nothing
    /// unacknowledged), and when that was.</summary>
    public long LastAcknowledged { get; set; }

    public long ProgressAt { get; set; }

    /// <summary>Poller thread: something sent on it was acknowledged, so its path to the peer's data port works.</summary>
    public bool EverAcknowledged { get; set; }

    /// <summary>Poller thread, once out of the poller.</summary>
    public void MoveTo(DataConnectionState state)
    {
        lock (Gate)
        {
            State = state;
            _ready = state == DataConnectionState.Ready;
        }
    }

    /// <summary>No sender uses it after this returns.</summary>
    public void Retire()
    {
        lock (Gate) _ready = false;
    }

    public void Dispose()
    {
        Retire();
        Session.Dispose();
    }
}
