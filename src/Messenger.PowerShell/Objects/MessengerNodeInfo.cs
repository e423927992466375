namespace Messenger.PowerShell;

/// <summary>
/// A node started in this PowerShell session, as Start-MessengerNode and Get-MessengerNode output it. The object
/// is live: its properties read the node's current state each time. Its events (PeerJoined, PeerUnreachable,
/// PeerLeft, MessageDropped, MessageReceived) are what Register-MessengerEvent subscribes to.
/// </summary>
public sealed class MessengerNodeInfo
{
    // Messages the MessageReceived pump takes off the queue at once.
    private const int PumpBatchSize = 1024;

    private readonly MessengerNode _node;
    private readonly object _gate = new();

    // Messages taken off the node's receive queue that a filtered Receive-MessengerMessage did not want: later
    // receives see them first, in arrival order. Bounded like the node's own receive queue (oldest dropped). Each
    // has its place in that order, where it goes back should a receive take it and not output it.
    private readonly LinkedList<(long Order, MessengerMessage Message)> _stash = new();
    private long _stashOrder;
    private int _stashCount;
    private long _stashDropped;
    private long _stashDroppedTotal;

    private EventHandler<MessengerMessageEventArgs>? _messageReceived;
    private CancellationTokenSource? _pumpStop;
    private Task _pump = Task.CompletedTask;

    // Completed when the last MessageReceived subscriber leaves: a Receive-MessengerMessage that waits meanwhile
    // goes back to reading then. Replaced when the next first subscriber comes.
    private TaskCompletionSource _eventsReleased = NewReleased(completed: true);

    private readonly IDisposable? _log;

    internal MessengerNodeInfo(MessengerNode node, IDisposable? log = null)
    {
        _node = node;
        _log = log;
        Name = node.Name;
        _node.PeerJoined += (_, e) => PeerJoined?.Invoke(this, new MessengerPeerEventArgs(Name, e));
        _node.PeerUnreachable += (_, e) => PeerUnreachable?.Invoke(this, new MessengerPeerEventArgs(Name, e));
        _node.PeerLeft += (_, e) => PeerLeft?.Invoke(this, new MessengerPeerEventArgs(Name, e));
        _node.MessageDropped += (_, e) => MessageDropped?.Invoke(this, new MessengerMessageDroppedEventArgs(Name, e));
        _node.ActorRestarted += (_, e) => ActorRestarted?.Invoke(this, new MessengerActorRestartedEventArgs(Name, e));
        _node.Faulted += (_, e) => Faulted?.Invoke(this, new MessengerNodeFaultedEventArgs(Name, e));
    }

    /// <summary>The node's name, unique in its cluster (case-sensitive).</summary>
    public string Name { get; }

    /// <summary>The node's id: 32 lowercase hex digits.</summary>
    public string Id => _node.Id;

    /// <summary>The cluster the node belongs to.</summary>
    public string Cluster => _node.Cluster;

    /// <summary>The node's public key (base64): what other nodes list in -AllowedKey to admit it.</summary>
    public string PublicKey => _node.PublicKey;

    /// <summary>How the node admits members, in words (cluster key fingerprint, allowlist size); never a key.</summary>
    public string Membership => _node.Membership;

    /// <summary>Running, Stopping, Stopped or Faulted.</summary>
    public NodeState State => _node.State;

    /// <summary>The unicast endpoint (tcp://host:port) that peers connect to; give it to others as a seed.</summary>
    public string Endpoint => _node.Endpoint;

    /// <summary>The broadcast endpoint (tcp://host:port).</summary>
    public string PublishEndpoint => _node.PublishEndpoint;

    /// <summary>The data receiver's TCP port, where peers' data connections send their messages (0 on an insecure
    /// node): with the ports of Endpoint and PublishEndpoint, the ports to open in a firewall.</summary>
    public int DataPort => _node.DataPort;

    /// <summary>How many peers are connected.</summary>
    public int PeerCount => _node.ConnectedPeerCount;

    /// <summary>How many peers are in the peer table, in any state.</summary>
    public int KnownPeerCount => _node.GetPeers().Count;

    /// <summary>How many received messages wait for Receive-MessengerMessage.</summary>
    public int PendingMessageCount => _node.PendingReceiveCount + Volatile.Read(ref _stashCount);

    /// <summary>How many times the node's supervisor restarted a failed part of it.</summary>
    public long Restarts => _node.Restarts;

    /// <summary>The last failure of a part of the node, in words; null when none failed.</summary>
    public string? LastError => _node.LastError;

    /// <summary>When the node started.</summary>
    public DateTimeOffset StartedAt => _node.StartedAt;

    /// <summary>How long the node has been running.</summary>
    public TimeSpan Uptime => _node.Uptime;

    /// <summary>Whether the node announces itself and listens with the UDP beacon.</summary>
    public bool BeaconEnabled => _node.Options.BeaconEnabled;

    /// <summary>The node's counters: messages and frames sent, received and dropped.</summary>
    public MessengerStatistics Statistics
    {
        get
        {
            var statistics = _node.Statistics;
            var stashDropped = Volatile.Read(ref _stashDroppedTotal);
            return stashDropped == 0 ? statistics : statistics with { MessagesDropped = statistics.MessagesDropped + stashDropped };
        }
    }

    /// <summary>A peer became connected (both directions work), or reachable again.</summary>
    public event EventHandler<MessengerPeerEventArgs>? PeerJoined;

    /// <summary>Nothing arrived from a peer for longer than the peer timeout.</summary>
    public event EventHandler<MessengerPeerEventArgs>? PeerUnreachable;

    /// <summary>A peer left politely, or stayed unreachable too long.</summary>
    public event EventHandler<MessengerPeerEventArgs>? PeerLeft;

    /// <summary>A message was dropped (receive queue full, peer gone before it could be sent).</summary>
    public event EventHandler<MessengerMessageDroppedEventArgs>? MessageDropped;

    /// <summary>The node's supervisor restarted a part of it that failed (a socket, a peer's link, the beacon).</summary>
    public event EventHandler<MessengerActorRestartedEventArgs>? ActorRestarted;

    /// <summary>The node failed beyond repair and stops (State becomes Faulted).</summary>
    public event EventHandler<MessengerNodeFaultedEventArgs>? Faulted;

    /// <summary>A message arrived. While anything subscribes to this event, received messages are delivered
    /// through it and no longer wait for Receive-MessengerMessage.</summary>
    public event EventHandler<MessengerMessageEventArgs>? MessageReceived
    {
        add
        {
            lock (_gate)
            {
                var first = _messageReceived is null;
                _messageReceived += value;
                if (first && _messageReceived is not null)
                {
                    _eventsReleased = NewReleased(completed: false);
                    StartPump();
                }
            }
        }
        remove
        {
            lock (_gate)
            {
                _messageReceived -= value;
                if (_messageReceived is null)
                {
                    _pumpStop?.Cancel();
                    _eventsReleased.TrySetResult();
                }
            }
        }
    }

    /// <summary>The engine's node, for use from C# or for what the cmdlets do not cover.</summary>
    public MessengerNode GetEngineNode() => _node;

    /// <inheritdoc/>
    public override string ToString() => Name;

    internal MessengerNode Node => _node;

    /// <summary>The runspace that started the node: removing the module there stops it, removing it elsewhere (a
    /// thread job's runspace, say) does not.</summary>
    internal Guid? StartedIn { get; init; }

    internal bool HasStash => Volatile.Read(ref _stashCount) > 0;

    /// <summary>True while MessageReceived has subscribers: received messages go to them, and
    /// Receive-MessengerMessage leaves the node's queue alone so that the two never split a stream between them.</summary>
    internal bool EventsTakeMessages => Volatile.Read(ref _messageReceived) is not null;

    /// <summary>Completes when MessageReceived has no subscribers (at once when it has none now).</summary>
    internal Task EventsReleased
    {
        get
        {
            lock (_gate) return _eventsReleased.Task;
        }
    }

    /// <summary>Completes when delivery to MessageReceived subscribers has ended: they left, or the node stopped and
    /// every message it received was delivered.</summary>
    internal Task DeliveryEnded
    {
        get
        {
            lock (_gate) return _pump;
        }
    }

    /// <summary>How many stashed messages were dropped because the stash was full; reset by the call.</summary>
    internal long TakeStashDropped() => Interlocked.Exchange(ref _stashDropped, 0);

    /// <summary>Takes up to <paramref name="max"/> stashed messages that <paramref name="match"/> accepts, oldest
    /// first, with their places in <paramref name="places"/> (for <see cref="PutBack"/>).</summary>
    internal List<MessengerMessage> TakeStashed(Func<MessengerMessage, bool>? match, int max, List<long> places)
    {
        var taken = new List<MessengerMessage>();
        places.Clear();
        lock (_stash)
        {
            var item = _stash.First;
            while (item is not null && taken.Count < max)
            {
                var next = item.Next;
                if (match is null || match(item.Value.Message))
                {
                    taken.Add(item.Value.Message);
                    places.Add(item.Value.Order);
                    _stash.Remove(item);
                }
                item = next;
            }
            Volatile.Write(ref _stashCount, _stash.Count);
        }
        return taken;
    }

    /// <summary>Keeps a message that a filtered receive did not want, for later receives.</summary>
    internal void Stash(MessengerMessage message)
    {
        List<MessengerMessage>? dropped;
        lock (_stash)
        {
            _stash.AddLast((++_stashOrder, message));
            dropped = TrimStash();
        }
        ReportStashDropped(dropped);
    }

    /// <summary>Keeps <paramref name="messages"/> from index <paramref name="from"/> on, in order, for later
    /// receives: what a receive took off the queue in bulk but could not output (the pipeline stopped).</summary>
    internal void Stash(List<MessengerMessage> messages, int from)
    {
        if (from >= messages.Count) return;
        List<MessengerMessage>? dropped;
        lock (_stash)
        {
            for (var i = from; i < messages.Count; i++) _stash.AddLast((++_stashOrder, messages[i]));
            dropped = TrimStash();
        }
        ReportStashDropped(dropped);
    }

    /// <summary>Puts back, each in its place, what <see cref="TakeStashed"/> gave a receive that could not output it
    /// (the pipeline stopped): <paramref name="messages"/> from index <paramref name="from"/> on, whose places are
    /// <paramref name="places"/> (ascending).</summary>
    internal void PutBack(List<MessengerMessage> messages, List<long> places, int from)
    {
        if (from >= messages.Count) return;
        List<MessengerMessage>? dropped;
        lock (_stash)
        {
            var before = _stash.First;
            for (var i = from; i < messages.Count; i++)
            {
                while (before is not null && before.Value.Order < places[i]) before = before.Next;
                if (before is null) _stash.AddLast((places[i], messages[i]));
                else _stash.AddBefore(before, (places[i], messages[i]));
            }
            dropped = TrimStash();
        }
        ReportStashDropped(dropped);
    }

    // Under the stash lock: bounded like the node's own receive queue, and full the same way: the oldest or the
    // newest go, as its ReceiveFullMode says. Returns what went (null: nothing).
    private List<MessengerMessage>? TrimStash()
    {
        var capacity = _node.Options.ReceiveQueueCapacity;
        List<MessengerMessage>? dropped = null;
        while (_stash.Count > capacity)
        {
            var victim = _node.Options.ReceiveFullMode == ReceiveFullMode.DropNewest ? _stash.Last! : _stash.First!;
            _stash.Remove(victim);
            (dropped ??= []).Add(victim.Value.Message);
        }
        Volatile.Write(ref _stashCount, _stash.Count);
        return dropped;
    }

    // Outside the stash lock: each drop counts in Statistics and raises MessageDropped, as the node's own do.
    private void ReportStashDropped(List<MessengerMessage>? dropped)
    {
        if (dropped is null) return;
        Interlocked.Add(ref _stashDropped, dropped.Count);
        Interlocked.Add(ref _stashDroppedTotal, dropped.Count);
        foreach (var message in dropped)
        {
            MessageDropped?.Invoke(this, new MessengerMessageDroppedEventArgs(Name, new MessageDroppedEventArgs(message, message.From, "receive queue full (messages a filtered receive left for later)")));
        }
    }

    /// <summary>Stops the node and waits for it; idempotent.</summary>
    internal async Task StopAsync()
    {
        await _node.StopAsync().ConfigureAwait(false);
        // MessageReceived subscribers get what the stopped node still holds: the pump ends once it has read it all.
        Task pump;
        lock (_gate) pump = _pump;
        await pump.ConfigureAwait(false);
        _log?.Dispose();
    }

    // Delivers received messages to MessageReceived subscribers: the stash first, then the receive queue.
    private void StartPump()
    {
        var previous = _pump;
        var stop = new CancellationTokenSource();
        _pumpStop = stop;
        _pump = Task.Run(async () =>
        {
            await previous.ConfigureAwait(false);
            await PumpAsync(stop.Token).ConfigureAwait(false);
        });
    }

    // Takes messages off the queue in bulk, as Receive-MessengerMessage does; each still raises its own event.
    private async Task PumpAsync(CancellationToken token)
    {
        var batch = new List<MessengerMessage>(PumpBatchSize);
        try
        {
            foreach (var stashed in TakeStashed(null, int.MaxValue, [])) Deliver(stashed);
            while (!token.IsCancellationRequested)
            {
                batch.Clear();
                if (_node.TryReadMany(batch, PumpBatchSize) > 0)
                {
                    // All of them: a subscriber that left meanwhile makes Deliver stash the rest, in order.
                    foreach (var message in batch) Deliver(message);
                    continue;
                }
                try
                {
                    if (!await _node.WaitToReadAsync(token).ConfigureAwait(false)) break; // stopped, all read
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        catch (Exception)
        {
            // A failing subscriber must not end the process: this runs on a thread the module created.
        }
    }

    private static TaskCompletionSource NewReleased(bool completed)
    {
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed) released.SetResult();
        return released;
    }

    private void Deliver(MessengerMessage message)
    {
        var handler = _messageReceived;
        if (handler is null)
        {
            // Unsubscribed meanwhile: keep it for Receive-MessengerMessage.
            Stash(message);
            return;
        }
        try
        {
            handler(this, new MessengerMessageEventArgs(Name, new MessengerReceivedMessage(message)));
        }
        catch (Exception)
        {
            // The PowerShell event manager queues the event; a handler that throws loses only its own call.
        }
    }
}
