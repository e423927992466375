using System.Net;
using System.Security.Cryptography;
using Messenger.Discovery;
using Messenger.Internal;
using Messenger.Protocol;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Transport;

// The peer table: finding peers, linking to them, their state machine, and the snapshot other threads read.
internal sealed partial class NodeRuntime
{
    private void OnBeacon(BeaconAnnouncement heard, IPAddress from)
    {
        if (heard.Cluster != _options.Cluster || _stopRequested != 0) return;
        Discover(heard.Id, heard.Name, new PeerAddress(from.ToString(), heard.Port, heard.PublishPort), "beacon");
    }

    /// <summary>Makes sure a link to the node exists; returns it, or null when the node is ignored.</summary>
    private PeerLink? Discover(NodeId id, string name, PeerAddress address, string how)
    {
        if (id == Id || _stopRequested != 0) return null;
        if (_peers.TryGetValue(id, out var known)) return known;
        if (_refusedUntil.TryGetValue(id, out var until) && Environment.TickCount64 < until) return null;
        if (name == Name) return null;
        if (_byName.TryGetValue(name, out var holder) && holder.Id != id)
        {
            // A live node keeps its name; a silent one gives way to the new incarnation.
            if (holder.State is PeerState.Connected or PeerState.Joining) return null;
            RemoveLink(holder, "replaced by a new node of the same name", raiseEvent: true);
        }

        var link = new PeerLink(id, name, address, how, new OutboundQueue(FrameType.Data, Id, _options.SendQueueLimitBytes), Environment.TickCount64);
        link.Outbound.Owner = link;
        link.ProbeToken = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        var dealer = new DealerSocket();
        dealer.Options.Linger = TimeSpan.Zero;
        dealer.Options.SendHighWatermark = 1000;
        dealer.ReceiveReady += (_, _) => Guard("unicast link", () => OnDealerReady(link));
        link.SendReadyHandler = (_, _) => Guard("unicast link", () => OnDealerSendReady(link));
        try
        {
            dealer.Connect(address.Endpoint);
            _subscriber.Connect(address.PublishEndpoint);
        }
        catch (Exception e) when (e is NetMQException or ArgumentException)
        {
            dealer.Dispose();
            Log.FrameRejected(_logger, address.Endpoint, $"cannot connect: {e.Message}");
            return null;
        }
        link.Dealer = dealer;
        link.SubscriberConnected = true;
        _poller.Add(dealer);
        _peers[id] = link;
        _byName[name] = link;
        Log.PeerFound(_logger, name, id.ToString(), address.Endpoint, how);
        SendHello(link);
        PublishSnapshot();
        return link;
    }

    private void SendHello(PeerLink link)
    {
        link.LastHelloSent = Environment.TickCount64;
        link.Dealer?.TrySendFrame(HelloFrame());
    }

    private byte[] HelloFrame() => ControlFrames.Hello(new HelloFrame(_options.Cluster, Id, Name, AdvertisedHost, Port, PublishPort));

    private void AddSeed(string endpoint)
    {
        if (_seeds.ContainsKey(endpoint) || _stopRequested != 0) return;
        var (host, _) = ParseEndpoint(endpoint, "Seeds");
        var dealer = new DealerSocket();
        dealer.Options.Linger = TimeSpan.Zero;
        var seed = new SeedLink(endpoint, host, dealer);
        dealer.ReceiveReady += (_, _) => Guard("seed link", () => OnSeedReady(seed));
        dealer.Connect(endpoint);
        _poller.Add(dealer);
        _seeds[endpoint] = seed;
        seed.LastHelloSent = Environment.TickCount64;
        dealer.TrySendFrame(HelloFrame());
    }

    /// <summary>Adds a seed at run time and completes with the name of the node that answers there.</summary>
    public Task<string> ConnectAsync(string endpoint)
    {
        ParseEndpoint(endpoint, "Endpoint");
        return InvokeAsync(() =>
        {
            AddSeed(endpoint);
            return _seeds.TryGetValue(endpoint, out var seed) ? seed.Answered.Task : Task.FromException<string>(new NodeStoppedException(Name));
        }).Unwrap();
    }

    private void OnSeedReady(SeedLink seed)
    {
        for (var i = 0; i < MaxFramesPerWakeup && seed.Dealer.TryReceiveFrameBytes(out var frame, out var more); i++)
        {
            if (more)
            {
                seed.Dealer.SkipMultipartMessage();
                Reject(seed.Endpoint, "multipart frame");
                continue;
            }
            try
            {
                switch (Wire.ReadHeader(frame))
                {
                    case FrameType.Welcome:
                        var welcome = ControlFrames.ReadWelcome(frame);
                        seed.AnsweredBy = welcome.Name;
                        Discover(welcome.Id, welcome.Name, new PeerAddress(seed.Host, welcome.Port, welcome.PublishPort), "seed");
                        seed.Answered.TrySetResult(welcome.Name);
                        break;
                    case FrameType.Peers:
                        MergePeers(ControlFrames.ReadPeers(frame));
                        break;
                    case FrameType.Refuse:
                        var refuse = ControlFrames.ReadRefuse(frame);
                        Log.RefusedByPeer(_logger, seed.Endpoint, refuse.Code.ToString(), refuse.Reason);
                        if (refuse.Code != RefuseCode.SelfConnection)
                            seed.Answered.TrySetException(new MessengerException("HandshakeRefused", $"{seed.Endpoint} refused this node: {refuse.Reason}"));
                        break;
                    default:
                        break; // a seed link only says HELLO; other answers are harmless
                }
            }
            catch (ProtocolException e)
            {
                Reject(seed.Endpoint, e.Message);
            }
        }
    }

    private void MergePeers(List<PeerRecord> peers)
    {
        foreach (var p in peers) Discover(p.Id, p.Name, new PeerAddress(p.Host, p.Port, p.PublishPort), "membership");
    }

    private byte[] PeersFrame(PeerLink? except)
    {
        var list = _peers.Values
            .Where(l => l != except && l.State == PeerState.Connected)
            .Take(Wire.MaxPeersPerList)
            .Select(l => new PeerRecord(l.Id, l.Name, l.Address.Host, l.Address.Port, l.Address.PublishPort))
            .ToList();
        return ControlFrames.Peers(list);
    }

    private void Touch(PeerLink link)
    {
        link.LastSeen = Environment.TickCount64;
        if (link.State == PeerState.Unreachable) Evaluate(link, "reachable again");
    }

    /// <summary>Moves a link to the state its flags and timings call for, raising the event of the change.</summary>
    private void Evaluate(PeerLink link, string reason)
    {
        if (link.State == PeerState.Gone) return;
        var now = Environment.TickCount64;
        var alive = now - link.LastSeen <= (long)_options.PeerTimeout.TotalMilliseconds;
        var target = link.LinksUp || link.EverConnected
            ? (alive ? (link.LinksUp ? PeerState.Connected : link.State) : PeerState.Unreachable)
            : PeerState.Joining;
        if (target == link.State) return;

        var previous = link.State;
        link.State = target;
        if (target == PeerState.Unreachable) link.UnreachableSince = now;
        if (target == PeerState.Connected)
        {
            link.EverConnected = true;
            Telemetry.PeersConnected.Add(1, _nodeTag);
            FlushLink(link);
        }
        if (previous == PeerState.Connected) Telemetry.PeersConnected.Add(-1, _nodeTag);
        Log.PeerStateChanged(_logger, link.Name, link.Id.ToString(), target, reason);
        PublishSnapshot();
        var args = new PeerEventArgs(link.ToInfo(), previous, reason);
        if (target == PeerState.Connected) Raise(() => PeerJoined?.Invoke(this, args));
        else if (target == PeerState.Unreachable) Raise(() => PeerUnreachable?.Invoke(this, args));
    }

    /// <summary>Takes a peer out of the table: closes its sockets and drops what was queued for it.</summary>
    private void RemoveLink(PeerLink link, string reason, bool raiseEvent)
    {
        if (link.State == PeerState.Gone) return;
        var previous = link.State;
        link.State = PeerState.Gone;
        if (previous == PeerState.Connected) Telemetry.PeersConnected.Add(-1, _nodeTag);
        _peers.Remove(link.Id);
        _byName.TryRemove(new KeyValuePair<string, PeerLink>(link.Name, link));
        foreach (var route in link.Routes) _routes.Remove(route);
        if (link.Dealer is not null)
        {
            _poller.Remove(link.Dealer);
            link.Dealer.Dispose();
            link.Dealer = null;
        }
        if (link.SubscriberConnected)
        {
            try
            {
                _subscriber.Disconnect(link.Address.PublishEndpoint);
            }
            catch (EndpointNotFoundException)
            {
                // never connected at the socket level: nothing to undo
            }
            link.SubscriberConnected = false;
        }
        var dropped = link.Outbound.Close();
        if (dropped > 0)
        {
            CountDropped(dropped, "peer gone");
            Log.MessagesDropped(_logger, dropped, link.Name, $"peer gone ({reason})");
            if (MessageDropped is not null) Raise(() => MessageDropped?.Invoke(this, new MessageDroppedEventArgs(null, link.Name, $"{dropped} queued messages dropped: peer gone ({reason})")));
        }
        Log.PeerStateChanged(_logger, link.Name, link.Id.ToString(), PeerState.Gone, reason);
        PublishSnapshot();
        if (raiseEvent && link.EverConnected)
        {
            var args = new PeerEventArgs(link.ToInfo(), previous, reason);
            Raise(() => PeerLeft?.Invoke(this, args));
        }
    }

    private void PublishSnapshot()
    {
        _snapshot = _peers.Values.OrderBy(l => l.Name, StringComparer.Ordinal).Select(l => l.ToInfo()).ToArray();
        _lastSnapshot = Environment.TickCount64;
        TaskCompletionSource changed;
        lock (_peersChangedGate)
        {
            changed = _peersChanged;
            _peersChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>A task that completes at the next change of the peer table.</summary>
    public Task PeersChanged
    {
        get { lock (_peersChangedGate) return _peersChanged.Task; }
    }

    public bool TryGetLink(string name, out PeerLink link) => _byName.TryGetValue(name, out link!);
}
