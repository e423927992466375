using NetMQ;
using NetMQ.Monitoring;
using NetMQ.Sockets;

namespace Messenger.Transport;

/// <summary>
/// Watches a socket's TCP connection (connected, disconnected) through a NetMQ monitor that the node's tick reads,
/// not its poller: every socket in a NetMQPoller costs two ZMQ_EVENTS checks (each a poll(2) of its mailbox) on
/// every wake-up of the poller, for every message, while these events come a few times in a link's life and a tick
/// (50 ms) is soon enough for them.
/// </summary>
internal sealed class ConnectionWatch : IDisposable
{
    // A monitor delivers a handful of events per connection attempt: a bound on one read keeps a flapping
    // connection from holding the tick.
    private const int MaxEventsPerPoll = 64;

    private readonly PairSocket _events;
    private readonly NetMQMonitor _monitor;

    public ConnectionWatch(NetMQSocket watched, Action connected, Action disconnected)
    {
        var endpoint = $"inproc://messenger-monitor-{Guid.NewGuid():N}";
        watched.Monitor(endpoint, SocketEvents.Connected | SocketEvents.Disconnected);
        _events = new PairSocket();
        _events.Options.Linger = TimeSpan.Zero;
        _monitor = new NetMQMonitor(_events, endpoint, ownsSocket: true);
        _monitor.Connected += (_, _) => connected();
        _monitor.Disconnected += (_, _) => disconnected();
        try
        {
            _events.Connect(endpoint);
        }
        catch
        {
            _monitor.Dispose();
            throw;
        }
    }

    /// <summary>Raises the events that arrived since the last call. The owning (poller) thread only.</summary>
    public void Poll()
    {
        for (var i = 0; i < MaxEventsPerPoll && _events.Poll(TimeSpan.Zero); i++)
        {
        }
    }

    public void Dispose() => _monitor.Dispose();
}
