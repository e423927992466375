using Messenger.Discovery;
using Messenger.Internal;
using Messenger.Supervision;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Transport;

// Let it crash: every handler runs under Guard, which reports a failure to the supervisor and restarts the actor
// that failed (one_for_one), or escalates to Faulted past the restart limit. A watchdog probes the node loop.
internal sealed partial class NodeRuntime
{
    private int _faulted;
    private long _lastTick = Environment.TickCount64;
    private Timer? _watchdog;

    public event EventHandler<ActorRestartedEventArgs>? ActorRestarted;
    public event EventHandler<NodeFaultedEventArgs>? Faulted;

    public bool IsFaulted => Volatile.Read(ref _faulted) == 1;
    public string? LastError => _supervisor.LastError;

    private static string LinkActor(PeerLink link) => "link:" + link.Name;

    /// <summary>Runs a piece of an actor's work; a failure goes to the supervisor, never up the poller's stack.</summary>
    private void Guard(string actor, Action action, Action? restart = null)
    {
        if (_loopAbandoned) return;
        try
        {
            Faults.Check(actor);
            action();
        }
        catch (Exception e)
        {
            OnActorFailed(actor, e, restart);
        }
        CheckRouterAfterWork();
    }

    private void OnActorFailed(string actor, Exception e, Action? restart)
    {
        Log.PartFailed(_logger, actor, e);
        if (IsFaulted || _stopRequested != 0)
        {
            // Nothing is restarted while the node stops; a leave that cannot finish would have the stop wait out its
            // margin.
            if (actor == LeaveActor) OnLeaveFailed();
            return;
        }
        if (!_supervisor.AllowRestart(actor, e, Environment.TickCount64))
        {
            Escalate(actor, $"{e.GetType().Name}: {e.Message} (more than {_options.MaxRestarts} restarts within {_options.RestartPeriod.TotalSeconds:0.#} s)");
            return;
        }
        try
        {
            restart?.Invoke();
        }
        catch (Exception again)
        {
            Escalate(actor, $"restart failed: {again.GetType().Name}: {again.Message}");
            return;
        }
        var cause = $"{e.GetType().Name}: {e.Message}";
        var restarts = _supervisor.TotalRestarts;
        Telemetry.Restarts.Add(1, _nodeTag, new("actor", actor.StartsWith("link:", StringComparison.Ordinal) ? "link" : actor));
        Log.ActorRestarted(_logger, actor, Name, restarts, cause);
        var args = new ActorRestartedEventArgs(actor, cause, restarts);
        Raise(nameof(ActorRestarted), () => InvokeEach(ActorRestarted, args));
    }

    /// <summary>The failure is beyond repair: report it and stop cleanly. Safe from any thread, once.</summary>
    private void Escalate(string actor, string cause)
    {
        if (Interlocked.Exchange(ref _faulted, 1) == 1) return;
        Log.NodeFaulted(_logger, Name, actor, cause);
        var args = new NodeFaultedEventArgs(actor, cause);
        Raise(nameof(Faulted), () => InvokeEach(Faulted, args));
        _ = Task.Run(StopAsync);
    }

    /// <summary>How often the watchdog looks at the node loop. Two looks in a row must find it silent for longer
    /// than HangTimeout, so a hang is reported between HangTimeout + 1 and + 2 periods after the loop's last tick:
    /// with a 1 s period that reached HangTimeout + 2 s, the stress suite's bound, on a run that was merely unlucky.</summary>
    private static readonly TimeSpan WatchdogPeriod = TimeSpan.FromMilliseconds(500);

    private void StartWatchdog()
    {
        var timeout = (long)_options.HangTimeout.TotalMilliseconds;
        var lastCheck = Environment.TickCount64;
        var misses = 0;
        _watchdog = new Timer(_ =>
        {
            var now = Environment.TickCount64;
            var late = now - lastCheck > 2000; // the watchdog itself was starved: the machine is overloaded, not the loop hung
            lastCheck = now;
            var silent = now - Volatile.Read(ref _lastTick);
            misses = !late && silent > timeout ? misses + 1 : 0;
            // Two checks in a row, each on time, must find the loop silent: load alone does not fault a node.
            if (_stopRequested == 0 && misses >= 2) Escalate("node", $"the node loop answered no health probe for {silent / 1000.0:0.#} s");
        }, null, WatchdogPeriod, WatchdogPeriod);
    }

    /// <summary>Test-only: the node loop hangs for <paramref name="duration"/>.</summary>
    internal void InjectHang(TimeSpan duration) => Post(() => Thread.Sleep(duration));

    private void RestartLink(PeerLink link)
    {
        if (link.State == PeerState.Gone) return;
        Readdress(link, link.Address);
    }

    private void RestartRouter()
    {
        RemoveRouterFromPoller();
        _router.Dispose();
        foreach (var route in _routes.Values.ToList()) DropRoute(route);
        foreach (var pending in _pending.Values) pending.Dispose();
        _pending.Clear();
        _router = NewRouter();
        BindAgain(_router, Port, "Port");
        AddRouterToPoller();
    }

    private void RestartPublisher()
    {
        _publisher.Dispose();
        _publisher = NewPublisher();
        BindAgain(_publisher, PublishPort, "PublishPort");
        _broadcastWindow.Clear();
        // The peers' subscriptions reach the new publisher when ZeroMQ has reconnected them: until each says so
        // (SUB_READY, to a probe of ours), our broadcasts do not count as reaching it, it is joining, and publishing
        // waits for it (see WaitingForSubscribers). A peer that never probed us (it said SUB_READY to our new session,
        // its SUB kept) has no token to probe it with: it goes on counting, and may miss what goes out before its SUB
        // reconnects (it counts that at the next broadcast).
        var now = Environment.TickCount64;
        foreach (var link in _peers.Values)
        {
            if (!link.TheyHearOurBroadcast || link.PeerProbeToken == 0) continue;
            StopCountingBroadcasts(link);
            link.ProbingForPublisher = true;
            link.ProbingForPublisherSince = now;
            _publisherMadeAnew = true;
            Evaluate(link, "this node's publisher was made anew");
        }
        ProbeForPublisher();
        // What was queued when the old publisher failed is still queued (and the queue still counts as
        // scheduled, so no sender rings again): it goes once the peers hear the new publisher.
        FlushBroadcast();
    }

    private void RestartBeacon()
    {
        _beacon?.Dispose();
        // A stop disposes the beacon from its own thread while the poller may still be running this: no new one then
        // (and the stop disposes it again once the poller is gone).
        if (_stopRequested != 0) return;
        _beacon = NewBeacon();
        _beacon?.Start();
    }

    /// <summary>A ROUTER with the settings every inbound socket of the node has.</summary>
    private RouterSocket NewRouterSocket()
    {
        var router = new RouterSocket();
        router.Options.Linger = TimeSpan.Zero;
        // A peer that sends a frame larger than the largest valid (sealed) batch is disconnected by NetMQ before
        // we read it.
        router.Options.MaxMsgSize = _maxFrame;
        router.Options.ReceiveHighWatermark = RouterReceiveHighWatermark;
        return router;
    }

    private RouterSocket NewRouter() => NewRouterSocket();

    private PublisherSocket NewPublisher()
    {
        var publisher = new PublisherSocket();
        publisher.Options.Linger = TimeSpan.Zero;
        // Members keep within the flow-control window; a connection that never reads (a stranger may subscribe)
        // would otherwise make ZeroMQ keep up to this many frames for it, each up to a segment or a whole message.
        publisher.Options.SendHighWatermark = PublisherHighWatermarkFrames;
        return publisher;
    }

    private UdpBeacon? NewBeacon() => _beaconInterfaces is null
        ? null
        : new UdpBeacon(
            _beaconInterfaces,
            _options.BeaconPort,
            _options.BeaconInterval,
            new BeaconAnnouncement(_options.Cluster, Id, Name, Port, PublishPort, _options.Insecure ? null : _security.KeyPair.PublicKeyBytes),
            HeardBeacon,
            RejectedBeacon,
            (part, e) => Post(() => OnActorFailed("beacon", e ?? new InvalidOperationException(part), RestartBeacon)),
            () => Faults.Check("beacon"));

    /// <summary>Binds a new socket to the port of the one it replaces. The old listener closes on NetMQ's I/O thread,
    /// so the port may take a moment to come free.</summary>
    private void BindAgain(NetMQSocket socket, int port, string option)
    {
        var address = _options.BindAddress;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                socket.Bind($"tcp://{address}:{port}");
                return;
            }
            catch (NetMQException) when (attempt < 50)
            {
                Thread.Sleep(20); // bounded: 1 s at most, on a restart path only
            }
            catch (NetMQException e)
            {
                throw new MessengerConfigurationException(option, $"cannot bind tcp://{address}:{port} again: {WhyNotBound(e)}.", e);
            }
        }
    }
}
