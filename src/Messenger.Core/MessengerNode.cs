using Messenger.Transport;

namespace Messenger;

/// <summary>
/// A Messenger node: it finds its peers (UDP beacon, seeds), keeps a peer table with their health, and carries
/// unicast and broadcast messages. Start one with <see cref="StartAsync"/> and dispose it to stop it.
/// </summary>
/// <remarks>
/// The events (<see cref="PeerJoined"/>, <see cref="PeerUnreachable"/>, <see cref="PeerLeft"/>,
/// <see cref="MessageDropped"/>, <see cref="ActorRestarted"/>, <see cref="Faulted"/>) are raised one at a time on a
/// thread of their own, never on the node's I/O thread. A handler may stop the node (<see cref="Dispose"/>, or a wait
/// on <see cref="DisposeAsync"/>): the stop then does not wait for that handler. A stop waits for a running handler
/// only briefly (a quarter of a second): past that it logs a warning (event 1402) naming the event and completes
/// without it. Once a stop has completed, no handler is called any more.
/// </remarks>
/// <example>
/// <code>
/// await using var a = await MessengerNode.StartAsync(MessengerNodeOptions.Default with { Name = "a" });
/// await a.WaitForPeersAsync(["b"], TimeSpan.FromSeconds(10));
/// await a.SendAsync("b", "hello b");
/// </code>
/// </example>
public sealed partial class MessengerNode : IAsyncDisposable, IDisposable
{
    private readonly NodeRuntime _runtime;
    private int _state = (int)NodeState.Starting;

    private MessengerNode(MessengerNodeOptions options, NodeRuntime runtime)
    {
        Options = options;
        _runtime = runtime;
        _runtime.EventSender = this;
        StartedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>Starts a node: binds its sockets, starts discovery, and returns once it is listening.</summary>
    /// <exception cref="MessengerConfigurationException">An option is invalid, or a port or interface cannot be used.</exception>
    public static Task<MessengerNode> StartAsync(MessengerNodeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<MessengerNode>(cancellationToken);
        try
        {
            FrameBufferPool.EnsureInstalled();
            var runtime = new NodeRuntime(options);
            var node = new MessengerNode(options, runtime);
            runtime.Start();
            node._state = (int)NodeState.Running;
            return Task.FromResult(node);
        }
        catch (MessengerException e)
        {
            return Task.FromException<MessengerNode>(e);
        }
    }

    /// <summary>The options the node was started with.</summary>
    public MessengerNodeOptions Options { get; }

    /// <summary>The node's name, unique in its cluster.</summary>
    public string Name => _runtime.Name;

    internal NodeRuntime Runtime => _runtime;

    /// <summary>The node's id: 32 lowercase hex digits.</summary>
    public string Id => _runtime.Id.ToString();

    /// <summary>The node's public key (base64): what other nodes list to allow it.</summary>
    public string PublicKey => _runtime.PublicKey;

    /// <summary>How this node admits members, in words (a cluster key's fingerprint, an allowlist's size, or
    /// "INSECURE"); never the key itself.</summary>
    public string Membership => _runtime.Membership;

    /// <summary>The cluster the node belongs to.</summary>
    public string Cluster => Options.Cluster;

    /// <summary>The unicast endpoint peers connect to (tcp://host:port); give it to others as a seed.</summary>
    public string Endpoint => _runtime.Endpoint;

    /// <summary>The broadcast endpoint (tcp://host:port).</summary>
    public string PublishEndpoint => _runtime.PublishEndpoint;

    /// <summary>The TCP port of the unicast socket.</summary>
    public int Port => _runtime.Port;

    /// <summary>The TCP port of the broadcast socket.</summary>
    public int PublishPort => _runtime.PublishPort;

    /// <summary>The TCP port of the data receiver, where peers' data connections send their DATA.</summary>
    public int DataPort => _runtime.DataPort;

    /// <summary>Where the node is in its life cycle.</summary>
    public NodeState State => _runtime.IsFaulted ? NodeState.Faulted : (NodeState)Volatile.Read(ref _state);

    /// <summary>How many times the supervisor restarted a failed part of this node.</summary>
    public long Restarts => _runtime.Statistics.Restarts;

    /// <summary>The last failure of a part of this node, in words; null when none failed.</summary>
    public string? LastError => _runtime.LastError;

    /// <summary>When the node started.</summary>
    public DateTimeOffset StartedAt { get; }

    /// <summary>How long the node has been running; once it stopped, how long it ran.</summary>
    public TimeSpan Uptime => (_runtime.StoppedAtTicks is var stopped and not 0 ? new DateTimeOffset(stopped, TimeSpan.Zero) : DateTimeOffset.UtcNow) - StartedAt;

    /// <summary>The node's counters.</summary>
    public MessengerStatistics Statistics => _runtime.Statistics;

    /// <summary>A peer became connected (both directions work), or reachable again.</summary>
    public event EventHandler<PeerEventArgs>? PeerJoined
    {
        add => _runtime.PeerJoined += value;
        remove => _runtime.PeerJoined -= value;
    }

    /// <summary>Nothing arrived from a peer for longer than <see cref="MessengerNodeOptions.PeerTimeout"/>.</summary>
    public event EventHandler<PeerEventArgs>? PeerUnreachable
    {
        add => _runtime.PeerUnreachable += value;
        remove => _runtime.PeerUnreachable -= value;
    }

    /// <summary>A peer left politely, or stayed unreachable longer than <see cref="MessengerNodeOptions.PeerGoneAfter"/>.</summary>
    public event EventHandler<PeerEventArgs>? PeerLeft
    {
        add => _runtime.PeerLeft += value;
        remove => _runtime.PeerLeft -= value;
    }

    /// <summary>A message was dropped: the receive queue was full, or its peer went away or this node stopped before it
    /// could be sent (for the broadcasts this node dropped, <see cref="MessageDroppedEventArgs.Peer"/> is "*").</summary>
    public event EventHandler<MessageDroppedEventArgs>? MessageDropped
    {
        add => _runtime.MessageDropped += value;
        remove => _runtime.MessageDropped -= value;
    }

    /// <summary>The supervisor restarted a part of the node that failed (a socket, a peer's link, the beacon).</summary>
    public event EventHandler<ActorRestartedEventArgs>? ActorRestarted
    {
        add => _runtime.ActorRestarted += value;
        remove => _runtime.ActorRestarted -= value;
    }

    /// <summary>Failures came faster than <see cref="MessengerNodeOptions.MaxRestarts"/> within
    /// <see cref="MessengerNodeOptions.RestartPeriod"/>, or the node loop hung: the node is Faulted and stops. A handler
    /// may dispose the node.</summary>
    public event EventHandler<NodeFaultedEventArgs>? Faulted
    {
        add => _runtime.Faulted += value;
        remove => _runtime.Faulted -= value;
    }

    /// <summary>Test-only: the node's loop hangs for a while, as a stuck handler would.</summary>
    internal void InjectHangForTests(TimeSpan duration) => _runtime.InjectHang(duration);

    /// <summary>Tells the peers this node leaves, closes every socket and joins every thread. Idempotent, and safe
    /// from an event handler of the node. A send or broadcast still waiting for room in a full queue fails with
    /// <see cref="NodeStoppedException"/>; what was queued and never sent is counted in
    /// <see cref="MessengerStatistics.MessagesDropped"/> and raised as <see cref="MessageDropped"/>. It waits for
    /// a running event handler only briefly (see the remarks on <see cref="MessengerNode"/>).</summary>
    public async Task StopAsync()
    {
        var previous = (NodeState)Interlocked.CompareExchange(ref _state, (int)NodeState.Stopping, (int)NodeState.Running);
        await _runtime.StopAsync().ConfigureAwait(false);
        if (previous != NodeState.Faulted) Volatile.Write(ref _state, (int)NodeState.Stopped);
    }

    /// <summary>Test-only fault injection.</summary>
    internal Supervision.FaultInjection Faults => _runtime.Faults;

    /// <summary>Test-only: the node vanishes as a killed process would, without telling its peers.</summary>
    internal async Task AbandonForTestsAsync()
    {
        Volatile.Write(ref _state, (int)NodeState.Stopping);
        await _runtime.AbandonAsync().ConfigureAwait(false);
        Volatile.Write(ref _state, (int)NodeState.Stopped);
    }

    /// <summary>Stops the node as <see cref="StopAsync"/> does; well under a second, even when an event handler
    /// blocks. May be called from an event handler of the node.</summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>Stops the node as <see cref="StopAsync"/> does, and blocks until it has. May be called from an event
    /// handler of the node, for instance <c>node.Faulted += (_, _) =&gt; node.Dispose();</c>.</summary>
    public void Dispose() => StopAsync().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({State}) {Endpoint}";

    private void ThrowIfStopped()
    {
        if (State != NodeState.Running) throw new NodeStoppedException(Name);
    }
}
