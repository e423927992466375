using System.Net;
using System.Threading.Channels;
using Messenger.Discovery;
using Messenger.Internal;
using Messenger.Protocol;
using Messenger.Security;
using Microsoft.Extensions.Logging;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Transport;

/// <summary>
/// The engine of one node: a NetMQPoller thread that alone touches the node's sockets (ROUTER for inbound
/// unicast, PUB for broadcast, and per peer a DEALER to its ROUTER and a SUB to its PUB; a DEALER per seed), the
/// peer table, the handshakes, heartbeats and discovery. Other threads hand it work through the poller's own task
/// queue (<see cref="Post"/>). A second thread, the data receiver, has a ROUTER of its own for peers' data
/// connections (NodeRuntime.DataReceiver.cs).
/// Every handler catches what it throws: a failure is logged and counted, never fatal to the process.
/// </summary>
internal sealed partial class NodeRuntime : IDisposable
{
    private const int TickMilliseconds = 50;

    /// <summary>High-water mark, in frames, of each DEALER's outgoing pipe.</summary>
    private const int UnicastHighWatermark = 128;

    /// <summary>High-water mark, in frames, of each connection's incoming pipe at the ROUTER. What NetMQ's I/O thread
    /// has read waits there for the poller, in buffers the GC allocated: with 128 frames (up to 8 MiB, more than the
    /// GC's gen0 budget here) nearly every frame outlived two collections, and a receiver at full rate ran 16-20 gen2
    /// collections in the benchmark's window of about a second; with 32 it ran 0-1, and with 16 none. Lower is not
    /// better: under a flood of strangers' frames the I/O thread is slow to resume a member's connection that filled
    /// its pipe, and a member's rate during the stress test's frame flood fell to 0.48x its rate before it with 16
    /// (0.62-0.70x with 32, 0.97x with 128).</summary>
    private const int RouterReceiveHighWatermark = 32;
    private const int HelloRetryMilliseconds = 1000;
    private const int ProbeRetryMilliseconds = 100;
    // A probe that a subscription did not yet reach is lost (ZeroMQ's slow joiner): the first retries come fast.
    private const int FirstProbeRetryMilliseconds = 4;
    private const int GossipMilliseconds = 1000;

    private const int MaxFramesPerWakeup = 512;

    /// <summary>How long a stop waits for one event handler that holds the event pump.</summary>
    private const int HandlerStopBoundMilliseconds = 250;

    private readonly MessengerNodeOptions _options;
    private readonly ILogger _logger;
    private readonly KeyValuePair<string, object?> _nodeTag;
    private readonly NetMQPoller _poller;
    private RouterSocket _router;
    private PublisherSocket _publisher;
    private readonly Supervision.Supervisor _supervisor;
    private readonly IReadOnlyList<BeaconInterface>? _beaconInterfaces;
    private readonly SecurityContext _security;
    private readonly long _maxFrame;
    private readonly NetMQTimer _timer;
    private readonly NetMQTimer _probeTimer;
    private UdpBeacon? _beacon;
    private readonly ReceiveQueue _received;
    private readonly Channel<PendingEvent> _events;
    private readonly Task _eventPump;
    // The event pump, under _pumpGate: the id of its thread while a handler runs (else 0), how many events it began
    // to raise, the last of them, and whether a stop gave up on it.
    private readonly Lock _pumpGate = new();
    private int _pumpThread;
    private long _eventsRaised;
    private string? _raising;
    private bool _eventsAbandoned;
    // Completed when a handler, on the pump, stops the node: the stop does not wait for the pump, which that handler holds.
    private readonly TaskCompletionSource _stopFromHandler = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<NodeId, PeerLink> _peers = [];
    private readonly Dictionary<byte[], RouterSession> _routes = new(ByteArrayComparer.Instance);
    private readonly Dictionary<byte[], PendingHandshake> _pending = new(ByteArrayComparer.Instance);
    private readonly Dictionary<string, SeedLink> _seeds = [];
    private readonly Dictionary<NodeId, long> _refusedUntil = [];

    // Peers removed from the table, until when second-hand news of them (a beacon datagram already on its way, a
    // member's PEERS list sent before it saw them go) no longer brings them back as ghosts that never connect.
    private readonly Dictionary<NodeId, long> _departedUntil = [];
    // Poller thread: where the streams stood with peers removed from the table (PeerStreams).
    private readonly Dictionary<NodeId, PeerStreams> _streams = [];
    private readonly List<OutboundSegment> _segments = [];
    private readonly List<BatchRecord> _records = [];
    private readonly List<MessengerMessage> _deliveries = [];
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastGossip;
    private long _lastSnapshot;
    private int _stopRequested;
    private readonly object _stopGate = new();
    private Task? _stopTask;
    private long _stoppedAtTicks;
    private long _leaveDeadline;
    private int _leaveAcksPending;
    private int _leaveFailures;
    private readonly List<PeerLink> _leavesWaiting = [];

    /// <summary>Tests: peers that this leaving node holds its LEAVE back from, until they acknowledge what it sent.</summary>
    internal Task<int> LeavesWaitingAsync() => InvokeAsync(() => _leavesWaiting.Count);

    // Counters: written by the poller thread (MessagesSent by senders, atomically), read by anyone.
    private long _messagesSent;
    private long _messagesReceived;
    private long _messagesDropped;
    private long _broadcastsMissed;
    private long _framesSent;
    private long _framesReceived;
    private long _bytesSent;
    private long _bytesReceived;
    private long _framesRejected;
    private long _handshakesRefused;

    private volatile PeerInfo[] _snapshot = [];
    private TaskCompletionSource _peersChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _peersChangedGate = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, PeerLink> _byName = new(StringComparer.Ordinal);

    public NodeRuntime(MessengerNodeOptions options)
    {
        Validate(options);
        _options = options;
        _logger = options.LoggerFactory.CreateLogger("Messenger.Node");
        _nodeTag = new("node", options.Name);
        _security = SecurityContext.Create(options);
        Id = _security.Id;
        Name = options.Name;
        if (options.Insecure) Log.InsecureMode(_logger, options.Name);
        foreach (var path in _security.ExposedKeyFiles) Log.KeyFileExposed(_logger, options.Name, path);

        _supervisor = new Supervision.Supervisor(options.MaxRestarts, options.RestartPeriod);
        _helloBudget = new SourceBudget(options.HelloBurstPerConnection, (int)options.HelloIntervalPerConnection.TotalMilliseconds, options.MaxTrackedConnections);
        _resetBudget = new SourceBudget(burst: 1, (int)options.StrangerResetInterval.TotalMilliseconds, options.MaxTrackedConnections);
        IReadOnlyList<BeaconInterface>? beaconInterfaces;
        try
        {
            beaconInterfaces = options.BeaconEnabled ? BeaconInterfaceResolver.Resolve(options.BeaconInterface) : null;
        }
        catch
        {
            _security.Dispose();
            throw;
        }
        _beaconInterfaces = beaconInterfaces;
        AdvertisedHost = options.AdvertisedHost
            ?? (BindsEveryInterface(options.BindAddress) ? null : options.BindAddress)
            ?? beaconInterfaces?[0].Address.ToString()
            ?? FirstAddress();

        _maxFrame = Math.Max(OutboundQueue.SegmentSize, options.MaxMessageSize + Wire.RecordFixedSize + Wire.MaxTopicBytes + 1) + 128;
        _router = NewRouter();
        _publisher = NewPublisher();
        try
        {
            Port = Bind(_router, options.BindAddress, options.Port, "Port");
            PublishPort = Bind(_publisher, options.BindAddress, options.PublishPort, "PublishPort");
            BindDataReceiver();
        }
        catch
        {
            _router.Dispose();
            _publisher.Dispose();
            StopDataReceiver();
            _security.Dispose();
            throw;
        }

        _broadcast = new OutboundQueue(FrameType.Broadcast, Id, options.SendQueueLimitBytes);
        _timer = new NetMQTimer(TimeSpan.FromMilliseconds(TickMilliseconds));
        // While the node stops, the tick's work is the leave's, which must not wait on the loop's other work: a node
        // faulted by a failure that keeps recurring there still says LEAVE, and stops within the leave's time.
        _timer.Elapsed += (_, _) =>
        {
            if (_stopRequested == 0) Guard("node", OnTick);
            else Guard(LeaveActor, OnLeaveTick);
        };
        _probeTimer = new NetMQTimer(TimeSpan.FromMilliseconds(FirstProbeRetryMilliseconds)) { Enable = false };
        _probeTimer.Elapsed += (_, _) => Guard("node", OnProbeTimer);
        _dataRetryTimer = new NetMQTimer(TimeSpan.FromMilliseconds(DataBlockedRetryMilliseconds)) { Enable = false };
        _dataRetryTimer.Elapsed += (_, _) => Guard("node", OnDataRetryTimer);
        _ackTimer = new NetMQTimer(TimeSpan.FromMilliseconds(AckDelayMilliseconds)) { Enable = false };
        _ackTimer.Elapsed += (_, _) => Guard("node", OnAckTimer);
        _poller = new NetMQPoller { _timer, _probeTimer, _dataRetryTimer, _ackTimer };
        AddRouterToPoller();

        _received = new ReceiveQueue(options.ReceiveQueueCapacity, options.ReceiveFullMode, OnReceiveDropped);
        // Unbounded: events come in bounded numbers (per peer, per restart, summed per second), but those of dropped
        // messages, which RaiseDropped caps.
        _events = Channel.CreateUnbounded<PendingEvent>(new UnboundedChannelOptions { SingleReader = true });
        _eventPump = Task.Run(PumpEventsAsync);

        if (beaconInterfaces is not null)
        {
            try
            {
                _beacon = NewBeacon();
                Log.BeaconStarted(_logger, Name, string.Join(", ", beaconInterfaces.Select(i => $"{i.Name} ({i.Broadcast})")), options.BeaconPort);
            }
            catch
            {
                DisposeSockets();
                _events.Writer.TryComplete();
                throw;
            }
        }
    }

    public NodeId Id { get; }

    /// <summary>Test-only faults (see <see cref="Supervision.FaultInjection"/>).</summary>
    internal Supervision.FaultInjection Faults { get; } = new();
    public string Name { get; }
    public int Port { get; }
    public int PublishPort { get; }
    public string AdvertisedHost { get; }
    public string PublicKey => _security.KeyPair.PublicKey;
    public string Membership => _security.Membership;
    public string Endpoint => $"tcp://{AdvertisedHost}:{Port}";
    public string PublishEndpoint => $"tcp://{AdvertisedHost}:{PublishPort}";
    public ReceiveQueue Received => _received;
    public PeerInfo[] Snapshot => _snapshot;
    public Task Stopped => _stopped.Task;

    public event EventHandler<PeerEventArgs>? PeerJoined;
    public event EventHandler<PeerEventArgs>? PeerUnreachable;
    public event EventHandler<PeerEventArgs>? PeerLeft;
    public event EventHandler<MessageDroppedEventArgs>? MessageDropped;

    public void Start()
    {
        _poller.RunAsync($"messenger-{Name}", isBackgroundThread: true);
        StartDataReceiver();
        _beacon?.Start();
        StartWatchdog();
        foreach (var seed in _options.Seeds) Post(() => AddSeed(seed));
        Log.NodeStarted(_logger, Name, Endpoint, PublishEndpoint, _options.Cluster);
    }

    public MessengerStatistics Statistics => new()
    {
        MessagesSent = Interlocked.Read(ref _messagesSent),
        MessagesSentDirect = Interlocked.Read(ref _directSends),
        MessagesReceived = Volatile.Read(ref _messagesReceived) + Volatile.Read(ref _dataMessagesReceived),
        MessagesDropped = Interlocked.Read(ref _messagesDropped),
        BroadcastsMissed = Interlocked.Read(ref _broadcastsMissed),
        FramesSent = Volatile.Read(ref _framesSent),
        FramesReceived = Volatile.Read(ref _framesReceived) + Volatile.Read(ref _dataFramesReceived),
        BytesSent = Volatile.Read(ref _bytesSent),
        BytesReceived = Volatile.Read(ref _bytesReceived) + Volatile.Read(ref _dataBytesReceived),
        FramesRejected = Volatile.Read(ref _framesRejected) + Volatile.Read(ref _dataFramesRejected) + Interlocked.Read(ref _beaconsRejected),
        HandshakesRefused = Volatile.Read(ref _handshakesRefused),
        Restarts = _supervisor.TotalRestarts,
    };

    /// <summary>Runs <paramref name="action"/> on the poller thread and returns its result.</summary>
    public Task<T> InvokeAsync<T>(Func<T> action)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var posted = Post(() =>
        {
            try
            {
                done.TrySetResult(action());
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        });
        if (!posted) done.TrySetException(new NodeStoppedException(Name));
        return done.Task;
    }

    /// <summary>Says LEAVE to every peer, waits for their acknowledgements up to the leave timeout, then stops the
    /// poller and closes everything. Safe to call more than once, from any thread.</summary>
    public Task StopAsync()
    {
        NoteStopFromHandler();
        return BeginStop(leave: true);
    }

    /// <summary>Test-only: stops as a killed process would, with no LEAVE: the poller stops and every socket
    /// closes at once.</summary>
    internal Task AbandonAsync()
    {
        NoteStopFromHandler();
        return BeginStop(leave: false);
    }

    /// <summary>When the node began to stop (asked to, or faulted), in UTC ticks; 0 while it runs.</summary>
    public long StoppedAtTicks => Volatile.Read(ref _stoppedAtTicks);

    private Task BeginStop(bool leave)
    {
        lock (_stopGate)
        {
            if (_stopTask is null)
            {
                Volatile.Write(ref _stoppedAtTicks, DateTimeOffset.UtcNow.UtcTicks);
                _stopTask = StopCoreAsync(leave);
            }
            return _stopTask;
        }
    }

    private async Task StopCoreAsync(bool leave)
    {
        Interlocked.Exchange(ref _stopRequested, 1);
        WakePeerWaiters();
        if (_watchdog is not null) await _watchdog.DisposeAsync().ConfigureAwait(false);
        _beacon?.Dispose();
        if (leave && _poller.IsRunning) Post(BeginLeave, actor: LeaveActor);
        else _stopped.TrySetResult();
        // The leave finishes within LeaveTimeout on the poller's timer; the margin covers a starved machine.
        await _stopped.Task.WaitAsync(_options.LeaveTimeout + TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var loopStopped = await StopLoopAsync().ConfigureAwait(false);
        FailSeedWaiters();
        if (loopStopped)
        {
            DisposeSockets();
            CloseQueues();
            await WaitForFixedPortsToCloseAsync().ConfigureAwait(false);
        }
        else
        {
            StopDataReceiver();
            CloseQueues();
        }
        _received.Complete();
        RaiseDropSums(all: true);
        _events.Writer.TryComplete();
        await JoinEventPumpAsync().ConfigureAwait(false);
        Log.NodeStopped(_logger, Name);
    }

    /// <summary>A loop that hangs (the watchdog faulted the node for it) may never return, and a stop must.</summary>
    private const int HungLoopStopMilliseconds = 2000;

    // Set when the stop went on without a hung loop: if it ever returns, it does no more of the node's work.
    private volatile bool _loopAbandoned;

    /// <summary>Stops the node loop and waits for it to return: true once it has. After
    /// <see cref="HungLoopStopMilliseconds"/> the stop goes on without it (false): the loop's sockets are closed when,
    /// if ever, it returns.</summary>
    private async Task<bool> StopLoopAsync()
    {
        if (!_poller.IsRunning) return true;
        var stopped = Task.Run(_poller.Stop);
        await stopped.WaitAsync(TimeSpan.FromMilliseconds(HungLoopStopMilliseconds)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (stopped.IsCompleted) return true;
        _loopAbandoned = true;
        Log.LoopAbandoned(_logger, Name, HungLoopStopMilliseconds);
        _ = stopped.ContinueWith(_ => DisposeSockets(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        return false;
    }

    /// <summary>The supervisor's name for the stop's work on the loop: saying LEAVE to the peers, then finishing.</summary>
    private const string LeaveActor = "leave";

    private void BeginLeave()
    {
        var now = Environment.TickCount64;
        _leaveDeadline = now + (long)_options.LeaveTimeout.TotalMilliseconds;
        foreach (var link in _peers.Values)
        {
            if (link.Session is null || !link.Welcomed) continue;
            if (link.State is PeerState.Connected or PeerState.Joining)
            {
                FlushLink(link);
                _leaveAcksPending++;
                _leavesWaiting.Add(link);
            }
            else if (link.State == PeerState.Unreachable)
            {
                // A frozen process reads its LEAVE when it wakes, and with it where our broadcasts ended: ZeroMQ may
                // have dropped its last frames and tails meanwhile. The leave does not wait for its answer.
                link.LeaveUnanswered = true;
                _leavesWaiting.Add(link);
            }
        }
        FlushBroadcast();
        PublishBroadcastTail();
        SayLeaveWhereDelivered();
        FinishLeaveIfDone();
    }

    /// <summary>Poller, while leaving: LEAVE goes to a peer once it has acknowledged everything sent to it, our
    /// broadcasts included. Our DATA may travel on a data connection, and our broadcasts do on the PUB socket: other
    /// TCP connections than the link's, and a LEAVE sent with them could reach the peer first. It would forget us and
    /// drop what followed. A peer that is gone meanwhile is owed no LEAVE; one that never acknowledges is left at the
    /// leave's deadline, and what it did not acknowledge is counted dropped. A peer out of the broadcast window (left
    /// behind, or unreachable) is told once the peers in it have every broadcast.</summary>
    private void SayLeaveWhereDelivered()
    {
        var floor = BroadcastFloor();
        for (var i = _leavesWaiting.Count - 1; i >= 0; i--)
        {
            var link = _leavesWaiting[i];
            var gone = link.State == PeerState.Gone;
            var unicastOwed = !link.LeaveUnanswered && link.Outbound.AcknowledgedSequence < link.Outbound.LastSequence;
            if (!gone && (unicastOwed || OwesBroadcastAcks(link, floor))) continue;
            _leavesWaiting.RemoveAt(i);
            if (link.LeaveUnanswered)
            {
                if (!gone) SayLeave(link, floor);
            }
            else if (gone || !SayLeave(link, floor))
            {
                _leaveAcksPending--;
            }
            else
            {
                link.AwaitingLeaveAck = true;
            }
        }
    }

    /// <summary>The link's DEALER, on which its LEAVE_ACK would come, is closed (the peer left too, say, its LEAVE
    /// crossing ours): the leave waits for it no more, and ends at the next leave tick if nothing else is owed.</summary>
    private void ForgoLeaveAck(PeerLink link)
    {
        if (!link.AwaitingLeaveAck) return;
        link.AwaitingLeaveAck = false;
        _leaveAcksPending--;
    }

    /// <summary>LEAVE on the link, after an ACK of every unicast message delivered from the peer: an ACK owed on
    /// its own way (from the link's ROUTER side, or the data receiver's) travels on another TCP connection and could
    /// arrive after the LEAVE, and the peer would count as dropped what this node delivered.</summary>
    private bool SayLeave(PeerLink link, long broadcastFloor)
    {
        // The peer counts as dropped what this ACK leaves out: from now on none of its unicast is delivered, from
        // either connection, else a message could be both delivered and reported dropped.
        long delivered;
        lock (link.DeliveryGate)
        {
            link.UnicastClosed = true;
            delivered = link.SequenceState[0];
        }
        if (delivered > 0) SendOnLink(link, ControlFrames.Ack(delivered));
        // Where our broadcast stream ends, for the peer to count what it missed: it reaches a peer left behind, to
        // which ZeroMQ may have dropped our last frames and tails. Up to the floor only: past it, a leave out of
        // time counts what the peers in the window did not acknowledge dropped. None while peers are yet to hear a
        // publisher made anew, as no tail is published then.
        var lastBroadcast = WaitingForSubscribers() ? 0 : broadcastFloor;
        return SendOnLink(link, ControlFrames.Leave(lastBroadcast));
    }

    /// <summary>Poller: the leave's own work failed. One that never began, failed three times, or is past its
    /// deadline cannot be counted on to finish: the stop goes on without it, and the peers notice the node gone.</summary>
    private void OnLeaveFailed()
    {
        if (_leaveDeadline != 0 && ++_leaveFailures < 3 && Environment.TickCount64 < _leaveDeadline) return;
        _leaveDeadline = 0;
        try
        {
            ReportUnacknowledgedBroadcasts(_peers.Values);
        }
        catch (Exception e)
        {
            Log.PartFailed(_logger, LeaveActor, e);
        }
        _stopped.TrySetResult();
    }

    private void OnLeaveTick()
    {
        // A publisher made anew just before the stop holds what was queued until its peers hear it (see
        // WaitingForSubscribers), and probes them at each tick.
        ProbeForPublisher();
        // A data connection's RESET (the peer's data receiver restarted) is read here alone: what the peer lost with
        // it goes again on the link, and the LEAVE waits for its acknowledgement.
        CheckDataConnections(Environment.TickCount64);
        // Nothing else publishes what is held once the peer that held it is gone (it left too, say).
        if (_broadcastHeld) Guard("broadcast", FlushBroadcast, RestartPublisher);
        PublishBroadcastTailWhileLeaving(Environment.TickCount64);
        SayLeaveWhereDelivered();
        FinishLeaveIfDone();
    }

    /// <summary>Counts as dropped, once, the broadcasts published and not acknowledged by the slowest of
    /// <paramref name="links"/>: a broadcast is one message however many peers did not acknowledge it.</summary>
    private void ReportUnacknowledgedBroadcasts(IEnumerable<PeerLink> links) =>
        ReportQueueDropped(links.Select(BroadcastsUnacknowledged).DefaultIfEmpty().Max(), "*", "node stopped", "broadcasts not acknowledged by every peer when this node stopped");

    private void FinishLeaveIfDone()
    {
        if (_stopRequested == 0 || _leaveDeadline == 0) return;
        if (_leaveAcksPending > 0 && Environment.TickCount64 < _leaveDeadline) return;
        _leaveDeadline = 0;
        // Out of time: a peer that has not acknowledged everything still hears that this node leaves (what it did not
        // acknowledge is counted dropped here), rather than noticing it gone later.
        ReportUnacknowledgedBroadcasts(_leavesWaiting);
        var floor = BroadcastFloor();
        foreach (var link in _leavesWaiting) SayLeave(link, floor);
        _leavesWaiting.Clear();
        foreach (var link in _peers.Values.ToList()) RemoveLink(link, "this node stopped", raiseEvent: false);
        _stopped.TrySetResult();
    }

    private void DisposeSockets()
    {
        foreach (var link in _peers.Values)
        {
            link.Watch?.Dispose();
            link.Watch = null;
            CloseData(link, "the node stopped", resend: false);
        }
        _poller.Dispose();
        _beacon?.Dispose();
        StopDataReceiver();
        foreach (var link in _peers.Values) CloseSockets(link);
        foreach (var seed in _seeds.Values) seed.Session?.Dispose();
        _seeds.Clear();
        foreach (var pending in _pending.Values) pending.Dispose();
        _pending.Clear();
        _router.Dispose();
        _publisher.Dispose();
        _security.Dispose();
    }

    /// <summary>At stop, once the poller is gone: the queues the leave did not close (every peer's when there was
    /// no leave, or it did not finish; the broadcasts always) close as a removed peer's does. What they held is
    /// dropped and reported, before the last events are raised; senders waiting for room fail with
    /// NodeStoppedException.</summary>
    private void CloseQueues()
    {
        foreach (var link in _peers.Values)
        {
            // A peer still connected (no leave, or it did not finish) leaves the gauge with the node.
            if (link.State == PeerState.Connected) Telemetry.PeersConnected.Add(-1, _nodeTag);
            link.State = PeerState.Gone;
            CloseOutbound(link, "this node stopped");
        }
        ReportQueueDropped(_broadcast.Close(new NodeStoppedException(Name)), "*", "node stopped", "broadcasts not published before this node stopped");
    }

    public void Dispose()
    {
        StopAsync().GetAwaiter().GetResult();
    }

    /// <summary>Any thread: runs <paramref name="command"/> on the poller thread, after what was posted before it
    /// (before the poller runs, once it does). Through the poller's own task queue, not a queue of ours: every socket
    /// in a NetMQPoller costs a poll(2) of its mailbox twice on every wake-up, for every message, and two queues of
    /// ours were two of the seven sockets of a node with one peer. A failure goes to the supervisor, as the
    /// <paramref name="actor"/>'s, with <paramref name="restart"/>. False once the poller is gone: nothing runs.</summary>
    private bool Post(Action command, Action? restart = null, string actor = "node")
    {
        try
        {
            new Task(() => Guard(actor, command, restart)).Start(_poller);
            return true;
        }
        catch (TaskSchedulerException) when (_stopRequested != 0)
        {
            return false;
        }
    }

    /// <summary>An event to raise on the event pump; <see cref="Name"/> is the event's, for the log.</summary>
    private readonly record struct PendingEvent(string Name, Action Raise);

    private async Task PumpEventsAsync()
    {
        await foreach (var pending in _events.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            lock (_pumpGate)
            {
                // A stop that no longer waits for the pump has returned: nothing is raised after it.
                if (_eventsAbandoned) return;
                _raising = pending.Name;
                _eventsRaised++;
                _pumpThread = Environment.CurrentManagedThreadId;
            }
            try
            {
                pending.Raise();
            }
            catch (Exception e)
            {
                Log.HandlerFailed(_logger, Name, e);
            }
            finally
            {
                lock (_pumpGate) _pumpThread = 0;
            }
        }
    }

    /// <summary>The sender the node's events name: the public node, once it wraps this runtime.</summary>
    internal object? EventSender { get; set; }

    private void Raise(string name, Action raise) => _events.Writer.TryWrite(new PendingEvent(name, raise));

    /// <summary>On the pump: calls each of an event's handlers on its own, so that one that throws (logged) does not
    /// keep the event from the others.</summary>
    private void InvokeEach<T>(EventHandler<T>? handlers, T args)
    {
        if (handlers is null) return;
        foreach (var handler in handlers.GetInvocationList())
        {
            try
            {
                ((EventHandler<T>)handler)(EventSender ?? this, args);
            }
            catch (Exception e)
            {
                Log.HandlerFailed(_logger, Name, e);
            }
        }
    }

    /// <summary>A handler that stops the node (Dispose, or a wait on DisposeAsync) holds the event pump until the
    /// stop returns: the stop, whoever began it, must then not wait for the pump.</summary>
    private void NoteStopFromHandler()
    {
        bool onPump;
        lock (_pumpGate) onPump = _pumpThread == Environment.CurrentManagedThreadId;
        if (onPump) _stopFromHandler.TrySetResult();
    }

    /// <summary>At stop, after the last event was queued: the pump raises what is queued, and the stop waits for it,
    /// but not for a handler that stops the node itself, nor for one that holds the pump through a whole
    /// <see cref="HandlerStopBoundMilliseconds"/> (logged, event 1402). A pump the stop gave up on raises nothing
    /// more; the handler it runs returns when it will.</summary>
    private async Task JoinEventPumpAsync()
    {
        Task joined = Task.WhenAny(_eventPump, _stopFromHandler.Task);
        var started = Environment.TickCount64;
        while (true)
        {
            long raised;
            lock (_pumpGate) raised = _eventsRaised;
            await joined.WaitAsync(TimeSpan.FromMilliseconds(HandlerStopBoundMilliseconds)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (_eventPump.IsCompleted) return;
            string? held;
            lock (_pumpGate)
            {
                // The pump may just be slow to get a thread, or be going through many events: that is waited for, but
                // not past HandlerStopBoundMilliseconds four times over in all (handlers slow on every event).
                var stuck = _pumpThread != 0 && (_eventsRaised == raised || Environment.TickCount64 - started >= 4 * HandlerStopBoundMilliseconds);
                if (!stuck && !_stopFromHandler.Task.IsCompleted) continue;
                _eventsAbandoned = true;
                held = stuck && !_stopFromHandler.Task.IsCompleted ? _raising : null;
            }
            if (held is not null) Log.HandlerHeldStop(_logger, held, Name, HandlerStopBoundMilliseconds);
            return;
        }
    }

    /// <summary>NetMQ closes a listener on its I/O thread after the socket is disposed: a node started again on the
    /// same fixed port moments later failed with "address in use" (17 times in 20). Stopping therefore ends only once
    /// the ports it was given are free again, or after a second.</summary>
    private async Task WaitForFixedPortsToCloseAsync()
    {
        var ports = new[] { _options.Port, _options.PublishPort, _options.DataPort }.Where(p => p != 0).ToList();
        if (ports.Count == 0) return;
        var address = _options.BindAddress == "*" ? IPAddress.Any : IPAddress.Parse(_options.BindAddress);
        var deadline = Environment.TickCount64 + 1000;
        while (ports.Any(p => !IsFree(address, p)) && Environment.TickCount64 < deadline)
        {
            await Task.Delay(5).ConfigureAwait(false);
        }

        static bool IsFree(IPAddress address, int port)
        {
            using var probe = new System.Net.Sockets.Socket(address.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            try
            {
                probe.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, true);
                probe.Bind(new IPEndPoint(address, port));
                return true;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return false;
            }
        }
    }

    private static int Bind(NetMQSocket socket, string address, int port, string option)
    {
        try
        {
            if (port == 0) return socket.BindRandomPort($"tcp://{address}");
            socket.Bind($"tcp://{address}:{port}");
            return port;
        }
        catch (NetMQException e)
        {
            // An address not of this host is the bind address's fault, whatever the port.
            var blame = port == 0 || e.ErrorCode == ErrorCode.AddressNotAvailable ? "BindAddress" : option;
            throw new MessengerConfigurationException(blame, $"cannot bind tcp://{address}:{port}: {WhyNotBound(e)}.", e);
        }
        catch (ArgumentException e)
        {
            throw new MessengerConfigurationException(port == 0 ? "BindAddress" : option, $"cannot bind tcp://{address}:{port}: {e.Message}", e);
        }
    }

    /// <summary>"*", or an address that means any (0.0.0.0, however written).</summary>
    private static bool BindsEveryInterface(string bindAddress) =>
        bindAddress == "*" || (IPAddress.TryParse(bindAddress, out var address) && address.Equals(IPAddress.Any));

    /// <summary>Why a bind failed, in words: NetMQ's message says only the exception's type.</summary>
    private static string WhyNotBound(NetMQException e) => e.ErrorCode switch
    {
        ErrorCode.AddressAlreadyInUse => "the port is in use",
        ErrorCode.AddressNotAvailable => "the address is not one of this host's",
        ErrorCode.AccessDenied => "permission denied (a port under 1024 needs privileges)",
        var code => code.ToString(),
    };

    private static string FirstAddress()
    {
        foreach (var n in System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces())
        {
            if (n.OperationalStatus != System.Net.NetworkInformation.OperationalStatus.Up || n.NetworkInterfaceType == System.Net.NetworkInformation.NetworkInterfaceType.Loopback) continue;
            var v4 = n.GetIPProperties().UnicastAddresses.FirstOrDefault(u => u.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
            if (v4 is not null) return v4.Address.ToString();
        }
        return IPAddress.Loopback.ToString();
    }

    private static void Validate(MessengerNodeOptions o)
    {
        if (!IsValidPathName(o.Name)) throw new MessengerConfigurationException("Name", $"'{o.Name}' is not a valid node name: use 1-64 letters, digits, '.', '_' or '-', other than '.' and '..'.");
        if (!IsValidPathName(o.Cluster)) throw new MessengerConfigurationException("Cluster", $"'{o.Cluster}' is not a valid cluster name: use 1-64 letters, digits, '.', '_' or '-', other than '.' and '..'.");
        if (o.BindAddress != "*" && !(IPAddress.TryParse(o.BindAddress, out var bind) && bind.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork))
            throw new MessengerConfigurationException("BindAddress", $"'{o.BindAddress}' is not an IPv4 address or '*'.");
        if (o.AdvertisedHost is not null && Uri.CheckHostName(o.AdvertisedHost) == UriHostNameType.Unknown) throw new MessengerConfigurationException("AdvertisedHost", $"'{o.AdvertisedHost}' is not a host name or address.");
        CheckPort(o.Port, "Port");
        CheckPort(o.PublishPort, "PublishPort");
        CheckPort(o.DataPort, "DataPort");
        if (o.BeaconPort is < 1 or > 65535) throw new MessengerConfigurationException("BeaconPort", $"{o.BeaconPort} is not a port (1-65535).");
        CheckMilliseconds(o.BeaconInterval, "BeaconInterval");
        CheckMilliseconds(o.HeartbeatInterval, "HeartbeatInterval");
        CheckMilliseconds(o.LeaveTimeout, "LeaveTimeout");
        CheckMilliseconds(o.PeerTimeout, "PeerTimeout");
        if (o.PeerTimeout <= o.HeartbeatInterval) throw new MessengerConfigurationException("PeerTimeout", "must be longer than HeartbeatInterval.");
        CheckMilliseconds(o.PeerGoneAfter, "PeerGoneAfter");
        if (o.MaxMessageSize is < 1 or > ControlFrames.MaxMessageSizeLimit) throw new MessengerConfigurationException("MaxMessageSize", "must be between 1 byte and 256 MiB.");
        if (o.ReceiveQueueCapacity < 1) throw new MessengerConfigurationException("ReceiveQueueCapacity", "must be at least 1.");
        if (o.SendQueueLimitBytes < 64 * 1024) throw new MessengerConfigurationException("SendQueueLimitBytes", "must be at least 64 KiB.");
        if (o.MaxPeers < 1) throw new MessengerConfigurationException("MaxPeers", "must be at least 1.");
        if (o.MaxPendingHandshakes < 1) throw new MessengerConfigurationException("MaxPendingHandshakes", "must be at least 1.");
        if (o.MaxHandshakesPerSecond < 1) throw new MessengerConfigurationException("MaxHandshakesPerSecond", "must be at least 1.");
        CheckMilliseconds(o.HandshakeTimeout, "HandshakeTimeout");
        CheckPositive(o.AckTimeout, "AckTimeout");
        CheckMilliseconds(o.RestartPeriod, "RestartPeriod");
        CheckMilliseconds(o.HangTimeout, "HangTimeout");
        if (o.MaxRestarts < 0) throw new MessengerConfigurationException("MaxRestarts", "must not be negative.");
        if (o.HelloBurstPerConnection < 1) throw new MessengerConfigurationException("HelloBurstPerConnection", "must be at least 1.");
        CheckMilliseconds(o.HelloIntervalPerConnection, "HelloIntervalPerConnection");
        CheckMilliseconds(o.StrangerResetInterval, "StrangerResetInterval");
        if (o.MaxStrangerFramesPerWakeup < 1) throw new MessengerConfigurationException("MaxStrangerFramesPerWakeup", "must be at least 1.");
        if (o.MaxTrackedConnections < 1) throw new MessengerConfigurationException("MaxTrackedConnections", "must be at least 1.");
        if (o.AllowedKeys is null) throw new MessengerConfigurationException("AllowedKeys", "must be a list (empty: every member of the cluster).");
        foreach (var key in o.AllowedKeys) SecurityContext.NormalizePublicKey(key);
        DataCipher.Resolve(o.Cipher);
        if (o.Insecure && o.Cipher != MessengerCipher.Auto) throw new MessengerConfigurationException("Cipher", "applies to secure nodes; an insecure node seals nothing.");
        // A caller who gave a key believes the node protected: refused rather than quietly left open.
        if (o.Insecure && (o.ClusterKey is not null || o.ClusterKeyPath is not null || o.AllowedKeys.Count > 0))
            throw new MessengerConfigurationException("Insecure", "an insecure node admits every insecure node and authenticates none: ClusterKey, ClusterKeyPath and AllowedKeys cannot go with it.");
        if (o.KeyPair is null) CheckPath(o.KeyPath, "KeyPath");
        if (o.ClusterKey is null) CheckPath(o.ClusterKeyPath, "ClusterKeyPath");
        if (!Enum.IsDefined(o.ReceiveFullMode)) throw new MessengerConfigurationException("ReceiveFullMode", $"{(int)o.ReceiveFullMode} is not DropNewest or DropOldest.");
        if (o.LoggerFactory is null) throw new MessengerConfigurationException("LoggerFactory", "must be a logger factory (NullLoggerFactory.Instance logs nothing).");
        if (o.Seeds is null) throw new MessengerConfigurationException("Seeds", "must be a list (empty: no seeds).");
        foreach (var seed in o.Seeds) ParseEndpoint(seed, "Seeds");

        // Null: the default file. Anything else must be a path: not empty, no NUL.
        static void CheckPath(string? path, string name)
        {
            if (path is not null && (path.Trim().Length == 0 || path.Contains('\0')))
                throw new MessengerConfigurationException(name, $"'{path.Replace("\0", "\\0")}' is not a file path.");
        }

        static void CheckPort(int port, string name)
        {
            if (port is < 0 or > 65535) throw new MessengerConfigurationException(name, $"{port} is not a port (0-65535).");
        }

        // Name and cluster name the default key file's folder and file (keys/<cluster>/<name>.key), where "." and ".."
        // would not.
        static bool IsValidPathName(string name) => Wire.IsValidName(name) && name is not ("." or "..");

        // A wait on a task (AckTimeout): any positive time, and at most a day.
        static void CheckPositive(TimeSpan value, string name)
        {
            if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1)) throw new MessengerConfigurationException(name, "must be positive, and at most 1 day.");
        }

        // Budgets and the node's timers count whole milliseconds (in 32 bits; a stop adds its margin to LeaveTimeout):
        // less than one would be 0, a timer that is always due.
        static void CheckMilliseconds(TimeSpan value, string name)
        {
            if (value < TimeSpan.FromMilliseconds(1) || value > TimeSpan.FromDays(1)) throw new MessengerConfigurationException(name, "must be between 1 ms and 1 day.");
        }
    }

    /// <summary>Checks a tcp://host:port endpoint and returns its host and port.</summary>
    public static (string Host, int Port) ParseEndpoint(string endpoint, string option)
    {
        if (endpoint is null || !endpoint.StartsWith("tcp://", StringComparison.Ordinal))
            throw new MessengerConfigurationException(option, $"'{endpoint}' is not an endpoint of the form tcp://host:port.");
        var rest = endpoint["tcp://".Length..];
        var colon = rest.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(rest[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            throw new MessengerConfigurationException(option, $"'{endpoint}' is not an endpoint of the form tcp://host:port.");
        var host = rest[..colon];
        if (Uri.CheckHostName(host) == UriHostNameType.Unknown)
            throw new MessengerConfigurationException(option, $"'{host}' in '{endpoint}' is not a host name or address.");
        return (host, port);
    }
}
