using System.Net;
using System.Security.Cryptography;
using Messenger.Discovery;
using Messenger.Internal;
using Messenger.Protocol;
using Messenger.Security;
using Messenger.Security.Noise;
using Microsoft.Extensions.Logging;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Transport;

// The peer table: finding peers, linking to them, their state machine, and the snapshot other threads read.
internal sealed partial class NodeRuntime
{
    // Beacons heard and not yet handled by the poller. A poller that hangs, or datagrams that come faster than it
    // handles them, must not queue them without bound; every node announces itself again a moment later.
    internal const int MaxBeaconsWaiting = 256;
    private int _beaconsWaiting;
    private long _beaconsDropped;
    private volatile bool _beaconsOverflowing;

    internal long BeaconsDropped => Interlocked.Read(ref _beaconsDropped);
    internal int BeaconsWaiting => Volatile.Read(ref _beaconsWaiting);

    /// <summary>The beacon's thread: hands what it heard to the poller, or drops it when too much is waiting.</summary>
    private void HeardBeacon(BeaconAnnouncement heard, IPAddress from)
    {
        if (Interlocked.Increment(ref _beaconsWaiting) > MaxBeaconsWaiting)
        {
            Interlocked.Decrement(ref _beaconsWaiting);
            if (!_beaconsOverflowing)
            {
                _beaconsOverflowing = true;
                Log.BeaconsDropped(_logger, MaxBeaconsWaiting);
            }
            Interlocked.Increment(ref _beaconsDropped);
            return;
        }
        Post(() =>
        {
            if (Interlocked.Decrement(ref _beaconsWaiting) == 0) _beaconsOverflowing = false;
            OnBeacon(heard, from);
        });
    }

    // Addresses where a link met this node itself; bounded, as a host has many loopback addresses.
    private const int MaxOwnEndpoints = 64;
    private readonly HashSet<string> _ownEndpoints = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>A link met this node itself at <paramref name="address"/>. Not its id (a forged beacon may give a
    /// member's) but the address is passed over from now on: anyone may announce it again and again.</summary>
    private void RememberOwnEndpoint(PeerAddress address)
    {
        if (_ownEndpoints.Count < MaxOwnEndpoints) _ownEndpoints.Add(address.Endpoint);
    }

    private long _beaconsRejected;
    private long _nextBeaconRejectLog;

    /// <summary>The beacon's thread: a datagram on the beacon port that is no valid beacon is counted, and the first
    /// of each second logged (event 1300, debug), as dropped frames are.</summary>
    private void RejectedBeacon(IPAddress from, string why)
    {
        Interlocked.Increment(ref _beaconsRejected);
        Telemetry.FramesRejected.Add(1, _nodeTag, new("reason", RejectReasons.Tag(RejectReason.BadBeacon)));
        var now = Environment.TickCount64;
        if (now < Volatile.Read(ref _nextBeaconRejectLog)) return;
        Volatile.Write(ref _nextBeaconRejectLog, now + RejectSummaryMilliseconds);
        Log.FrameRejected(_logger, $"beacon from {from}", why);
    }

    private void OnBeacon(BeaconAnnouncement heard, IPAddress from)
    {
        if (_stopRequested != 0) return;
        if (heard.Cluster != _options.Cluster)
        {
            BeaconIgnored(heard, from, $"it is of cluster '{heard.Cluster}'");
            return;
        }
        // A secure node links only to nodes that announce a key, an insecure one only to nodes that do not.
        if ((heard.PublicKey is null) != _options.Insecure)
        {
            BeaconIgnored(heard, from, heard.PublicKey is null ? "it is insecure, and this node is not" : "it is secure, and this node is insecure");
            return;
        }
        Discover(heard.Id, heard.Name, new PeerAddress(from.ToString(), heard.Port, heard.PublishPort), "beacon", out _);
    }

    // The nodes whose beacons were ignored and said so (log event 1104): each once, for an operator who wonders
    // why two nodes on one network do not meet, without a line for every beacon.
    private readonly HashSet<NodeId> _beaconsIgnored = [];

    // The nodes not linked because the peer table was full (log event 1108), and other nodes of this node's name
    // (1109): each said once, and at most one line a second, as beacons with ever new ids are anyone's to send.
    private readonly HashSet<NodeId> _notLinkedAtLimit = [];
    private readonly HashSet<NodeId> _namesakes = [];
    private long _lastSaidOnce = long.MinValue / 2;

    private void BeaconIgnored(BeaconAnnouncement heard, IPAddress from, string reason)
    {
        if (RememberOnce(_beaconsIgnored, heard.Id)) Log.BeaconIgnored(_logger, heard.Name, heard.Id.ToString(), from.ToString(), reason);
    }

    /// <summary>Whether <paramref name="id"/> is new to <paramref name="said"/>, a bounded set of nodes already logged.</summary>
    private bool RememberOnce(HashSet<NodeId> said, NodeId id)
    {
        if (said.Count >= MaxRememberedPeers) said.Clear();
        return said.Add(id);
    }

    /// <summary><see cref="RememberOnce"/>, and at most once a second for 1108 and 1109 together: a node passed over
    /// is said at its next announcement.</summary>
    private bool SayOnce(HashSet<NodeId> said, NodeId id)
    {
        var now = Environment.TickCount64;
        if (now - _lastSaidOnce < 1000 || said.Contains(id)) return false;
        _lastSaidOnce = now;
        return RememberOnce(said, id);
    }

    /// <summary>How long a removed peer is not found again by beacon or by another member's PEERS list: long enough
    /// for the news of its going to reach every member (each sends PEERS once a second). A node that comes back with
    /// its key in that time gets in by its own HELLO. Settable for tests.</summary>
    public long DepartedQuarantineMilliseconds { get; set; } = 3 * GossipMilliseconds;

    /// <summary>Makes sure a link to the node exists; returns it, or null when the node is ignored. A new link
    /// starts its handshake, unless it takes over <paramref name="greeted"/>: a connection to the node that has
    /// completed one already (a seed's), whose WELCOME the caller then acts on. <paramref name="unreachable"/> says
    /// why a new link was not made when its address cannot be connected to (see <see cref="TryConnect"/>).</summary>
    private PeerLink? Discover(NodeId id, string name, PeerAddress address, string how, out string? unreachable, DealerSession? greeted = null)
    {
        unreachable = null;
        if (id == Id || _stopRequested != 0) return null;
        // What a handshake proved (the node's own HELLO, or a seed's answer) against what anyone can say: a beacon, or
        // a member's PEERS list.
        var proven = how is "hello" or "seed";
        if (_peers.TryGetValue(id, out var known))
        {
            // A node that restarted with its key on other ports is the same node at a new address. A link whose node
            // welcomed us at its present address (Proven) moves only when the node's own HELLO says so (AcceptSession);
            // else a forged beacon could point it at a stranger.
            if (known.Address != address && known.State != PeerState.Connected && how == "beacon" && !known.Proven) Readdress(known, address);
            return known;
        }
        if (!proven && _refusedUntil.TryGetValue(id, out var until) && Environment.TickCount64 < until) return null;
        if (!proven && _ownEndpoints.Contains(address.Endpoint)) return null;
        if (!proven && _departedUntil.TryGetValue(id, out var departed) && Environment.TickCount64 < departed) return null;
        if (name == Name)
        {
            // Names are unique in a cluster: two nodes of one name never link. A PEERS list may still name this node's
            // previous process (restarted with a new key) for a while: only what the node itself announces warns.
            if (SayOnce(_namesakes, id))
            {
                var (peerId, endpoint) = (id.ToString(), address.Endpoint);
                Log.NamesakeFound(_logger, how == "membership" ? LogLevel.Debug : LogLevel.Warning, name, peerId, endpoint, how);
            }
            return null;
        }
        if (_byName.TryGetValue(name, out var holder) && holder.Id != id)
        {
            // A live node keeps its name. A silent one, or one never proven, gives way to a node that proves itself.
            if (!proven || !CanTakeName(holder)) return null;
            RemoveLink(holder, holder.IdentityProven ? "replaced by a new node of the same name" : "its name was taken by a node that proved it", raiseEvent: true);
        }
        if (_peers.Count >= _options.MaxPeers && !(proven && DropUnprovenLink()))
        {
            // A HELLO's sender is refused (TooManyPeers) by the caller. A node found any other way sent nothing wrong:
            // it is said once, not counted as a rejected frame at every beacon.
            if (how != "hello" && SayOnce(_notLinkedAtLimit, id)) Log.PeerNotLinked(_logger, name, id.ToString(), how, $"this node has its maximum of {_options.MaxPeers} peers");
            return null;
        }

        _streams.TryGetValue(id, out var kept);
        var outbound = new OutboundQueue(FrameType.Data, Id, _options.SendQueueLimitBytes, retainUntilAcknowledged: true, lastSequence: kept?.Sent ?? 0);
        var link = new PeerLink(id, name, address, how, outbound, Environment.TickCount64) { IdentityProven = proven };
        if (kept is not null)
        {
            link.SequenceState[0] = kept.ReceivedUnicast;
            link.SequenceState[1] = kept.ReceivedBroadcast;
            link.PlainIncarnation = kept.PlainIncarnation;
            link.RememberedBroadcastKey = kept.BroadcastKey;
        }
        link.Outbound.Owner = link;
        link.ProbeToken = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        link.SendReadyHandler = (_, _) => Guard(LinkActor(link), () => OnDealerSendReady(link), () => RestartLink(link));
        if (ConnectSockets(link, greeted) is { } failure)
        {
            // A HELLO's sender is answered with a REFUSE, which counts it; a node found any other way is counted here.
            if (how != "hello") CountRefused(UnreachableAddress);
            unreachable = failure;
            return null;
        }
        _peers[id] = link;
        _byName[name] = link;
        _departedUntil.Remove(id);
        _streams.Remove(id);
        Log.PeerFound(_logger, name, id.ToString(), address.Endpoint, how);
        if (greeted is null) StartHandshake(link.Session!);
        PublishSnapshot();
        return link;
    }

    /// <summary>Whether a node that proved itself may take the name <paramref name="holder"/> holds: not from a node
    /// that is connected, or that proved itself and is linking again.</summary>
    private static bool CanTakeName(PeerLink holder) =>
        holder.State is not PeerState.Connected && !(holder.State is PeerState.Joining && holder.IdentityProven);

    /// <summary>At the peer limit, a node that proved itself takes the place of the oldest link never proven (found
    /// by a beacon or a PEERS list, which anyone can send), so that made-up announcements cannot keep members out.</summary>
    private bool DropUnprovenLink()
    {
        var oldest = _peers.Values.Where(l => !l.IdentityProven && l.State == PeerState.Joining).MinBy(l => l.CreatedAt);
        if (oldest is null) return false;
        RemoveLink(oldest, "made room for a node that proved itself", raiseEvent: false);
        return true;
    }

    /// <summary>Opens the link's DEALER (or takes over <paramref name="greeted"/>'s, already connected and in the
    /// poller) and its SUB. Returns null, or why the link's address cannot be connected to (logged, not counted):
    /// then the link has no sockets, and <paramref name="greeted"/> is left to its owner.</summary>
    private string? ConnectSockets(PeerLink link, DealerSession? greeted = null)
    {
        var dealer = greeted?.Dealer ?? NewDealer();
        SubscriberSocket? subscriber = null;
        var failure = greeted is null ? TryConnect(dealer, link.Address.Endpoint, link.Address.Host, out _) : null;
        if (failure is null) subscriber = ConnectSubscriber(link, link.Address, out failure);
        if (subscriber is null)
        {
            if (greeted is null) dealer.Dispose();
            LogCannotConnect(link.Address.Host, $"peer {link.Name} (found by {link.DiscoveredBy})", link.Address.Endpoint, failure!);
            return failure;
        }
        link.Watch = new ConnectionWatch(dealer, connected: () => link.DisconnectedAt = 0, disconnected: () => link.DisconnectedAt = Environment.TickCount64);
        dealer.ReceiveReady += (_, _) => Guard(LinkActor(link), () => OnDealerReady(link), () => RestartLink(link));
        link.Session = greeted?.BindTo(link.Id) ?? new DealerSession(dealer, link.Id);
        link.Subscriber = subscriber;
        if (greeted is null) _poller.Add(dealer);
        _poller.Add(subscriber);
        return null;
    }

    /// <summary>A SUB for the link, connected to the publish endpoint of <paramref name="address"/>, not yet in the
    /// poller; null, with why in <paramref name="failure"/>, when that cannot be connected to.</summary>
    private SubscriberSocket? ConnectSubscriber(PeerLink link, PeerAddress address, out string? failure)
    {
        var subscriber = new SubscriberSocket();
        subscriber.Options.Linger = TimeSpan.Zero;
        subscriber.Options.ReceiveHighWatermark = SubscriberHighWatermarkFrames;
        subscriber.Options.MaxMsgSize = _maxFrame;
        failure = TryConnect(subscriber, address.PublishEndpoint, address.Host, out _);
        if (failure is not null)
        {
            subscriber.Dispose();
            return null;
        }
        subscriber.SubscribeToAnyTopic();
        subscriber.ReceiveReady += (_, _) => Guard(LinkActor(link), () => OnSubscriberReady(link), () => RestartLink(link));
        return subscriber;
    }

    /// <summary>The node's WELCOME names the port it publishes on: that, not what a beacon or a PEERS list said (which
    /// anyone can send), is where our SUB listens. A SUB left on a stranger's publisher would let the stranger pass
    /// the node's probes on and keep its broadcasts, unseen, since a subscriber that never heard a broadcast cannot
    /// tell that it misses one. Throws <see cref="ProtocolException"/> (the WELCOME is rejected, and the handshake
    /// tried again) when the proven port cannot be connected to.</summary>
    private void SubscribeAtProvenPort(PeerLink link, int publishPort)
    {
        if (link.Address.PublishPort == publishPort) return;
        var address = link.Address with { PublishPort = publishPort };
        var subscriber = ConnectSubscriber(link, address, out var failure)
            ?? throw new ProtocolException($"its WELCOME names publish port {publishPort}, which cannot be connected to: {failure}");
        Log.PublishPortCorrected(_logger, link.Name, link.Address.PublishEndpoint, address.PublishEndpoint);
        CloseSubscriber(link);
        link.Address = address;
        link.Subscriber = subscriber;
        _poller.Add(subscriber);
        // Our SUB is new: we hear the node only once it has answered our probes there. Whether it hears us is as
        // it was.
        link.HearsTheirBroadcast = false;
        RestartProbes(link);
        Evaluate(link, "its publisher is at another port than announced");
        PublishSnapshot();
    }

    /// <summary>The <c>reason</c> tag of <c>messenger.handshakes.refused</c> for a handshake this node could not start
    /// because the address it was given cannot be connected to.</summary>
    private const string UnreachableAddress = "unreachable-address";

    /// <summary>Connects <paramref name="socket"/> to an endpoint that came from outside this node (a seed, or an
    /// address in a peer's HELLO, WELCOME, PEERS list or beacon), at the address <see cref="Resolver"/> has for its
    /// host: NetMQ would look the name up inside Connect, on this thread. What Connect throws for a bad address
    /// (NetMQException, or an ArgumentException or a parse error) means that the endpoint cannot be reached now,
    /// never that the node failed. Returns null when connected, with the endpoint connected to in
    /// <paramref name="connected"/> (an address literal in place of a name); else why not, and the socket is the
    /// caller's to dispose.</summary>
    private string? TryConnect(NetMQSocket socket, string endpoint, string host, out string connected)
    {
        connected = endpoint;
        if (Resolver.TryResolve(host, Environment.TickCount64, out var failure) is not { } address) return failure;
        var named = $"tcp://{host}:";
        if (endpoint.StartsWith(named, StringComparison.Ordinal) && !System.Net.IPAddress.TryParse(host, out _))
            connected = $"tcp://{address}:{endpoint[named.Length..]}";
        try
        {
            socket.Connect(connected);
            return null;
        }
        catch (Exception e) when (IsConnectFailure(e))
        {
            return e.Message;
        }
    }

    /// <summary>Looks host names up (poller). Tests put in one whose lookups are slow.</summary>
    internal HostResolver Resolver { get; set; } = new();

    // When each repeated condition was last logged at its full level (the poller's): a peer's PEERS list names the
    // same unreachable host every second, a link is retried every second, and a node refused for its settings (another
    // cluster key, say) tries again every few seconds for as long as it runs.
    private readonly Dictionary<string, long> _saidAt = new(StringComparer.OrdinalIgnoreCase);

    /// <summary><paramref name="level"/> for the first time <paramref name="what"/> is said in a minute, debug for
    /// the others.</summary>
    private LogLevel OnceAMinute(LogLevel level, string what)
    {
        var now = Environment.TickCount64;
        if (_saidAt.TryGetValue(what, out var said) && now - said < 60_000) return LogLevel.Debug;
        if (_saidAt.Count >= MaxRememberedPeers) _saidAt.Clear();
        _saidAt[what] = now;
        return level;
    }

    /// <summary>Logs a failure to connect (event 1103): a warning for the first one to <paramref name="host"/> in a
    /// minute, debug for the others.</summary>
    private void LogCannotConnect(string host, string target, string endpoint, string failure)
    {
        var level = OnceAMinute(LogLevel.Warning, $"1103 {host}");
        Log.CannotConnect(_logger, level, target, endpoint, failure);
    }

    /// <summary>What NetMQ's Connect throws for an address it cannot connect to (see <see cref="TryConnect"/>).</summary>
    private static bool IsConnectFailure(Exception e) =>
        e is NetMQException or System.Net.Sockets.SocketException or ArgumentException or FormatException or OverflowException;

    private DealerSocket NewDealer()
    {
        var dealer = new DealerSocket();
        dealer.Options.Linger = TimeSpan.Zero;
        // Frames are batches of up to 64 KiB: a short pipe is plenty, and keeps a fast sender's frames from piling up
        // (and being promoted by the GC) in NetMQ's pipe instead of waiting in our own queue.
        dealer.Options.SendHighWatermark = UnicastHighWatermark;
        dealer.Options.MaxMsgSize = _maxFrame;
        return dealer;
    }

    private void CloseSockets(PeerLink link)
    {
        CloseData(link, "the link's sockets closed", resend: false);
        if (link.Watch is not null)
        {
            link.Watch.Dispose();
            link.Watch = null;
            link.DisconnectedAt = 0;
        }
        if (link.Session is not null)
        {
            if (link.Blocked) link.Session.Dealer.SendReady -= link.SendReadyHandler;
            if (_poller.IsRunning) _poller.Remove(link.Session.Dealer);
            link.Session.Dispose();
            link.Session = null;
        }
        CloseSubscriber(link);
        link.Blocked = false;
    }

    private void CloseSubscriber(PeerLink link)
    {
        if (link.Subscriber is null) return;
        if (_poller.IsRunning) _poller.Remove(link.Subscriber);
        link.Subscriber.Dispose();
        link.Subscriber = null;
    }

    private void Readdress(PeerLink link, PeerAddress address)
    {
        CloseSockets(link);
        ForgoLeaveAck(link);
        link.Address = address;
        link.Welcomed = false;
        link.Proven = false;
        link.HearsTheirBroadcast = false;
        StopCountingBroadcasts(link);
        ReconnectSockets(link, Environment.TickCount64);
        Evaluate(link, "its links are made again");
        PublishSnapshot();
    }

    /// <summary>Connects the link's sockets and starts its handshake; when its address cannot be connected to now (a
    /// host name still being looked up, or not resolving), the link stays without sockets and the tick tries again.
    /// Meanwhile nothing is heard from the peer, which goes unreachable, then gone, as any silent peer does.</summary>
    private void ReconnectSockets(PeerLink link, long now)
    {
        link.ConnectAttemptAt = now;
        if (ConnectSockets(link) is null) StartHandshake(link.Session!);
        else CountRefused(UnreachableAddress);
    }

    /// <summary>Adds a seed, which stays for the node's lifetime: one whose endpoint cannot be connected to now (a
    /// host name that does not resolve yet, as a Kubernetes headless service's before its pod is ready) is tried
    /// again from the tick.</summary>
    private void AddSeed(string endpoint)
    {
        if (_seeds.ContainsKey(endpoint) || _stopRequested != 0) return;
        var (host, _) = ParseEndpoint(endpoint, "Seeds");
        var seed = new SeedLink(endpoint, host);
        _seeds[endpoint] = seed;
        if (OpenSeedConnection(seed) is { } session) StartHandshake(session);
    }

    /// <summary>A new DEALER to the seed endpoint, in the poller, with no handshake started; null (and no session)
    /// when the endpoint cannot be connected to now.</summary>
    private DealerSession? OpenSeedConnection(SeedLink seed)
    {
        seed.Session = null;
        seed.ConnectAttemptAt = Environment.TickCount64;
        // The link of the node that answers may take this connection over: it is set up as a link's would be.
        var dealer = NewDealer();
        if (TryConnect(dealer, seed.Endpoint, seed.Host, out _) is { } failure)
        {
            dealer.Dispose();
            CountRefused(UnreachableAddress);
            LogCannotConnect(seed.Host, "seed", seed.Endpoint, failure + "; tried again later");
            seed.ConnectFailure = failure;
            return null;
        }
        seed.ConnectFailure = null;
        var session = new DealerSession(dealer, expectedId: null);
        seed.ReadyHandler = (_, _) => Guard("seed:" + seed.Endpoint, () => OnSeedReady(seed), () =>
        {
            if (seed.Session is { } current) StartHandshake(current);
        });
        dealer.ReceiveReady += seed.ReadyHandler;
        _poller.Add(dealer);
        seed.Session = session;
        return session;
    }

    /// <summary>Tests: how many inbound sessions (handshakes accepted on our ROUTER) the peer of that name holds.</summary>
    internal Task<int> SessionCountAsync(string name) => InvokeAsync(() => _byName.TryGetValue(name, out var link) ? link.Routes.Count(r => !r.IsData) : 0);

    /// <summary>Adds a seed at run time and completes with the name of the node that answers there.</summary>
    /// <returns>The poller's answer: the task of the seed's answer, which is complete already for a seed that
    /// answered before.</returns>
    public Task<Task<string>> ConnectAsync(string endpoint)
    {
        ParseEndpoint(endpoint, "Endpoint");
        return InvokeAsync(() =>
        {
            AddSeed(endpoint);
            if (!_seeds.TryGetValue(endpoint, out var seed)) return Task.FromException<string>(new NodeStoppedException(Name));
            if (seed.Session is { } session && !seed.IsThisNode && seed.AnsweredBy is not null && !_byName.ContainsKey(seed.AnsweredBy)) StartHandshake(session);
            return seed.Answered.Task;
        });
    }

    /// <summary>Why the seed at <paramref name="endpoint"/> cannot be connected to now (say, its host name does not
    /// resolve); null when it is connected, or is no seed of this node.</summary>
    public Task<string?> SeedConnectFailureAsync(string endpoint) =>
        InvokeAsync(() => _seeds.TryGetValue(endpoint, out var seed) ? seed.ConnectFailure : null);

    private void OnSeedReady(SeedLink seed)
    {
        // A WELCOME may hand this connection over to a link part way: what follows is the link's to read.
        if (seed.Session is not { } greeting) return;
        ReadDealer(() => seed.Session == greeting ? greeting : null, seed.Endpoint, refused => OnSeedRefused(seed, greeting, refused), inner => OnSeedInner(seed, greeting, inner));
    }

    private void OnSeedInner(SeedLink seed, DealerSession greeting, byte[] inner)
    {
        switch (Wire.ReadHeader(inner))
        {
            case FrameType.Welcome:
                var welcome = ControlFrames.ReadWelcome(inner, Secure);
                // The handshake proved who answers at the seed: a WELCOME in another node's name is not believed.
                if (Secure && greeting.ProvenId != welcome.Id) throw new ProtocolException($"WELCOME in the name of node {welcome.Id} from a seed that proved to be {greeting.ProvenId}");
                seed.AnsweredBy = welcome.Name;
                seed.LastRefusal = null;
                var address = new PeerAddress(seed.Host, welcome.Port, welcome.PublishPort);
                // A node new to us that listens at the seed endpoint itself: its link takes this connection over,
                // handshake done, instead of opening another one and shaking hands again.
                var takeOver = !_peers.ContainsKey(welcome.Id) && greeting.Established && address.Endpoint == seed.Endpoint
                    && (Secure ? greeting.ProvenId == welcome.Id && welcome.BroadcastKey is not null : welcome.BroadcastKey is null);
                var link = Discover(welcome.Id, welcome.Name, address, "seed", out _, takeOver ? greeting : null);
                if (link is not null) LearnMaxMessageSize(link, welcome.MaxMessageSize);
                if (link is not null && welcome.BroadcastKey is not null) SetBroadcastKey(link, welcome.BroadcastKey, welcome.BroadcastCipher);
                // Discover gave a new link the greeted connection, or returned null and left it to the seed.
                if (takeOver && link is not null)
                {
                    greeting.Dealer.ReceiveReady -= seed.ReadyHandler;
                    try
                    {
                        Touch(link);
                        OnLinkWelcomed(link);
                    }
                    finally
                    {
                        // Whatever happens to the link, the seed must not greet again on the connection it gave away
                        // (should the new one fail to connect, the seed has none until the tick tries again).
                        OpenSeedConnection(seed);
                    }
                }
                seed.Answered.TrySetResult(welcome.Name);
                break;
            case FrameType.Peers:
                MergePeers(ControlFrames.ReadPeers(inner));
                break;
            case FrameType.Reset:
                if (greeting.Handshake is null) StartHandshake(greeting);
                break;
            default:
                break; // a seed link only says HELLO; other answers are harmless
        }
    }

    private void OnSeedRefused(SeedLink seed, DealerSession greeting, RefuseFrame refuse)
    {
        greeting.Reset();
        if (refuse.Code == RefuseCode.SelfConnection && IsOwnEndpoint(seed.Endpoint))
        {
            OnSeedIsThisNode(seed);
            return;
        }
        // A seed is greeted again every 2 s for as long as the node runs: the same refusal again is debug.
        var code = refuse.Code.ToString();
        var refusal = $"{code} {refuse.Reason}";
        Log.RefusedByPeer(_logger, refusal == seed.LastRefusal ? LogLevel.Debug : LogLevel.Error, seed.Endpoint, code, refuse.Reason);
        seed.LastRefusal = refusal;
        seed.Answered.TrySetException(new MessengerException("HandshakeRefused", $"{seed.Endpoint} refused this node: {refuse.Reason}"));
    }

    /// <summary>Whether <paramref name="endpoint"/> is this node's unicast endpoint: its port, on this host. A node
    /// elsewhere that says "this is you" holds this node's key (protocol 1 cannot tell them apart otherwise).</summary>
    private bool IsOwnEndpoint(string endpoint)
    {
        var (host, port) = ParseEndpoint(endpoint, "Seeds");
        if (port != Port) return false;
        if (string.Equals(host, AdvertisedHost, StringComparison.OrdinalIgnoreCase) || string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || string.Equals(host, Dns.GetHostName(), StringComparison.OrdinalIgnoreCase)) return true;
        if (!IPAddress.TryParse(host, out var address)) return false;
        return IPAddress.IsLoopback(address) || System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(n => n.GetIPProperties().UnicastAddresses).Any(u => u.Address.Equals(address));
    }

    private void OnSeedIsThisNode(SeedLink seed)
    {
        if (seed.IsThisNode) return;
        seed.IsThisNode = true;
        Log.SeedIsThisNode(_logger, seed.Endpoint);
        seed.Answered.TrySetException(new MessengerException("SeedIsThisNode", $"{seed.Endpoint} is this node's own endpoint"));
    }

    private void MergePeers(List<PeerRecord> peers)
    {
        foreach (var p in peers) Discover(p.Id, p.Name, new PeerAddress(p.Host, p.Port, p.PublishPort), "membership", out _);
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

    // Why a peer whose broadcast cipher this platform lacks is refused.
    private static string UnsupportedBroadcastCipher(NoiseCipher cipher) =>
        $"its broadcasts are sealed with {DataCipher.ToPublic(cipher)}, which this platform cannot open";

    /// <summary>Takes the peer's broadcast key. A key other than the one it had means a new incarnation of the
    /// peer (it draws one at each start): its streams count from 1 again, and every proof that the links work
    /// (our session to it, its broadcasts reaching us, ours reaching it) belonged to the old process and is made
    /// again. Within one incarnation the counts go on across reconnections, so a frame sent again is dropped as a
    /// duplicate. <paramref name="keep"/> is the peer's session that brought the new key, if any: the old
    /// incarnation's other sessions end (see <see cref="StartNewIncarnation"/>).</summary>
    private void SetBroadcastKey(PeerLink link, byte[] key, NoiseCipher cipher, RouterSession? keep = null)
    {
        // A node draws its key and chooses its cipher once, at start: the same key again is the same incarnation,
        // whatever cipher comes with it (a frame sealed with another would not open).
        if (link.BroadcastKey is not null && link.BroadcastKey.AsSpan().SequenceEqual(key)) return;
        if (!DataCipher.IsSupported(cipher)) throw new ProtocolException(UnsupportedBroadcastCipher(cipher));
        var opener = FrameOpener.FromKey(cipher, key);
        var restarted = link.BroadcastKey is not null;
        // A link made anew to a peer this node had removed: the same key is the incarnation it counted for.
        var remembered = link.RememberedBroadcastKey is { } before && before.AsSpan().SequenceEqual(key);
        link.RememberedBroadcastKey = null;
        link.BroadcastOpener?.Dispose();
        link.BroadcastKey = key;
        link.BroadcastOpener = opener;
        if (!remembered) StartNewIncarnation(link, keep, firstKnown: !restarted);
        if (restarted) OnPeerRestarted(link);
    }

    private static bool SamePorts(PeerAddress a, PeerAddress b) => a.Port == b.Port && a.PublishPort == b.PublishPort;

    /// <summary>The key (protocol 2) or incarnation (protocol 1) in a peer's handshake is of another process than
    /// the one the link knew.</summary>
    private static bool IsNewIncarnation(PeerLink link, byte[]? broadcastKey, Guid plainIncarnation) =>
        broadcastKey is not null
            ? link.BroadcastKey is { } known && !known.AsSpan().SequenceEqual(broadcastKey)
            : link.PlainIncarnation != Guid.Empty && plainIncarnation != Guid.Empty && link.PlainIncarnation != plainIncarnation;

    /// <summary>Protocol 1's <see cref="SetBroadcastKey"/>: an incarnation other than the one the link knew (from
    /// the peer's HELLO) is a restarted peer. The same one, reconnected, goes on where it was, and what it sends
    /// again is recognised and dropped.</summary>
    private void SetPlainIncarnation(PeerLink link, Guid incarnation, RouterSession keep)
    {
        if (link.PlainIncarnation == incarnation) return;
        var restarted = link.PlainIncarnation != Guid.Empty;
        link.PlainIncarnation = incarnation;
        StartNewIncarnation(link, keep, firstKnown: !restarted);
        if (restarted) OnPeerRestarted(link);
    }

    /// <summary>Every proof that the links work (our session to the peer, its broadcasts reaching us, ours reaching
    /// it) belonged to the old process: until they are made again the links are not up, and the peer is joining, so
    /// that a broadcast sent once it is connected again reaches the new process.</summary>
    private void OnPeerRestarted(PeerLink link)
    {
        Log.PeerStateChanged(_logger, link.Name, link.Id.ToString(), link.State, "restarted: a new incarnation, links checked again");
        link.HearsTheirBroadcast = false;
        link.ProbeAgain = false;
        StopCountingBroadcasts(link);
        RestartProbes(link);
        if (link.Session is { } session && link.Welcomed && session.Handshake is null)
        {
            // Our session belonged to the old process: greet the new one (ZeroMQ has reconnected the DEALER).
            link.Welcomed = false;
            CloseData(link, "the peer restarted");
            StartHandshake(session);
        }
        Evaluate(link, "restarted: links checked again");
    }

    private void Touch(PeerLink link)
    {
        link.LastSeen = Environment.TickCount64;
        link.LastSeenWall = DateTimeOffset.UtcNow;
        if (link.State == PeerState.Unreachable) Evaluate(link, "reachable again");
    }

    /// <summary>Moves a link to the state its flags and timings call for, raising the event of the change.</summary>
    private void Evaluate(PeerLink link, string reason)
    {
        if (link.State == PeerState.Gone) return;
        var now = Environment.TickCount64;
        var alive = IsAlive(link, now);
        // A connected peer whose links are being made again (a link restarted on either side, a session forgotten, a
        // restarted process) is joining until they are: a broadcast sent once it is connected again reaches it. One
        // unreachable stays so until they are.
        var target = link.LinksUp || link.EverConnected
            ? (alive ? (link.LinksUp ? PeerState.Connected : link.State == PeerState.Connected ? PeerState.Joining : link.State) : PeerState.Unreachable)
            : PeerState.Joining;
        if (target == link.State) return;

        var previous = link.State;
        link.State = target;
        if (target == PeerState.Unreachable) link.UnreachableSince = now;
        if (target == PeerState.Connected)
        {
            link.EverConnected = true;
            StartCountingBroadcasts(link);
            Telemetry.PeersConnected.Add(1, _nodeTag);
            FlushLink(link);
        }
        if (previous == PeerState.Connected) Telemetry.PeersConnected.Add(-1, _nodeTag);
        Log.PeerStateChanged(_logger, link.Name, link.Id.ToString(), target, reason);
        PublishSnapshot();
        var args = new PeerEventArgs(link.ToInfo(), previous, reason);
        if (target == PeerState.Connected) Raise(nameof(PeerJoined), () => InvokeEach(PeerJoined, args));
        else if (target == PeerState.Unreachable) Raise(nameof(PeerUnreachable), () => InvokeEach(PeerUnreachable, args));
    }

    /// <summary>Heard from within the peer timeout, and its connection not lost: a peer whose process died closes
    /// the connection, and one heartbeat interval later (time for a reconnection) it counts as unreachable.</summary>
    private bool IsAlive(PeerLink link, long now)
    {
        if (now - link.LastSeen > (long)_options.PeerTimeout.TotalMilliseconds) return false;
        return !(link.DisconnectedAt != 0 && link.DisconnectedAt >= link.LastSeen && now - link.DisconnectedAt >= (long)_options.HeartbeatInterval.TotalMilliseconds);
    }

    /// <summary>Takes a peer out of the table: closes its sockets and drops what was queued for it.</summary>
    private void RemoveLink(PeerLink link, string reason, bool raiseEvent)
    {
        if (link.State == PeerState.Gone) return;
        var previous = link.State;
        link.State = PeerState.Gone;
        if (previous == PeerState.Connected) Telemetry.PeersConnected.Add(-1, _nodeTag);
        _peers.Remove(link.Id);
        if (link.PeerMaxMessageSize > 0) UpdateBroadcastLimit();
        _departedUntil[link.Id] = Environment.TickCount64 + DepartedQuarantineMilliseconds;
        _byName.TryRemove(new KeyValuePair<string, PeerLink>(link.Name, link));
        foreach (var route in link.Routes)
        {
            ForgetRoute(route);
            route.Dispose();
        }
        link.Routes.Clear();
        CloseSockets(link);
        ForgoLeaveAck(link);
        link.BroadcastOpener?.Dispose();
        link.BroadcastOpener = null;
        ReportMissedBroadcasts(link, Environment.TickCount64, force: true);
        CloseOutbound(link, reason);
        // Last: with its sessions ended the data receiver delivers nothing more from the peer, and with its queue
        // closed no sender takes another sequence number, so a link made anew neither delivers again nor reuses one.
        RememberStreams(link);
        Log.PeerStateChanged(_logger, link.Name, link.Id.ToString(), PeerState.Gone, reason);
        PublishSnapshot();
        if (raiseEvent && link.EverConnected)
        {
            var args = new PeerEventArgs(link.ToInfo(), previous, reason);
            Raise(nameof(PeerLeft), () => InvokeEach(PeerLeft, args));
        }
    }

    /// <summary>Closes the peer's queue: what it held is dropped, counted, logged and raised as MessageDropped;
    /// senders waiting for room go on (and fail), those waiting for an acknowledgement fail with NotAcknowledged.</summary>
    private void CloseOutbound(PeerLink link, string reason)
    {
        var dropped = link.Outbound.Close(new MessengerException("NotAcknowledged", $"'{link.Name}' went away ({reason}) before acknowledging the message; it may or may not have been received."));
        ReportQueueDropped(dropped, link.Name, "peer gone", $"peer gone ({reason})");
    }

    /// <summary>Messages a closed queue held, never sent (or never acknowledged): counted under
    /// <paramref name="tag"/>, logged (event 1301) and raised as one MessageDropped.</summary>
    private void ReportQueueDropped(int dropped, string peer, string tag, string why)
    {
        if (dropped == 0) return;
        CountDropped(dropped, tag);
        Log.MessagesDropped(_logger, dropped, peer, why);
        if (MessageDropped is not null) Raise(nameof(MessageDropped), () => InvokeEach(MessageDropped, new MessageDroppedEventArgs(null, peer, $"{dropped} queued messages dropped: {why}", dropped)));
    }

    /// <summary>The peer is a new incarnation (a restarted process): the old one's sessions with this node end first,
    /// all but <paramref name="keep"/>, so that a frame of theirs read late cannot count against the new one; then
    /// both of the peer's streams count afresh. A frame the data receiver opened before its session ended is
    /// delivered before the counts start again, or not at all (<see cref="QueueNewRecords"/> looks under the same
    /// gate). <paramref name="firstKnown"/>: the link had known no incarnation of the peer.</summary>
    private void StartNewIncarnation(PeerLink link, RouterSession? keep, bool firstKnown)
    {
        var ending = link.Routes.Where(r => keep is null || (r != keep && r.AcknowledgedOn != keep)).ToList();
        foreach (var route in ending) DropRoute(route);
        lock (link.DeliveryGate)
        {
            link.SequenceState[0] = 0;
            // The first incarnation a link learns of (protocol 1 tells it in the peer's HELLO, which may come after
            // the peer's PUB_PROBE) is the one whose broadcasts it began to count at that probe.
            if (!(firstKnown && link.CountsTheirBroadcasts))
            {
                link.SequenceState[1] = 0;
                link.CountsTheirBroadcasts = false;
            }
            // An ACK owed to the old process counts in its numbering: sent to the new one, it would acknowledge
            // messages it has not had.
            link.TakeOwedAck();
        }
    }

    /// <summary>Keeps where the streams with a removed peer stood (<see cref="PeerStreams"/>), for the last
    /// <see cref="MaxRememberedPeers"/> peers removed.</summary>
    private void RememberStreams(PeerLink link)
    {
        long unicast, broadcast;
        lock (link.DeliveryGate) (unicast, broadcast) = (link.SequenceState[0], link.SequenceState[1]);
        var key = link.BroadcastKey ?? link.RememberedBroadcastKey;
        _streams[link.Id] = new PeerStreams(link.Outbound.LastSequence, unicast, broadcast, link.PlainIncarnation, key, Environment.TickCount64);
        if (_streams.Count <= MaxRememberedPeers) return;
        _streams.Remove(_streams.MinBy(s => s.Value.ForgottenAt).Key);
    }

    private int MaxRememberedPeers => Math.Max(1024, 4 * _options.MaxPeers);

    private void PublishSnapshot()
    {
        _snapshot = _peers.Values.OrderBy(l => l.Name, StringComparer.Ordinal).Select(l => l.ToInfo()).ToArray();
        _lastSnapshot = Environment.TickCount64;
        WakePeerWaiters();
    }

    /// <summary>Any thread: completes <see cref="PeersChanged"/>, for those who wait for the peer table to change (or
    /// for the node to stop, which they look at when woken).</summary>
    private void WakePeerWaiters()
    {
        TaskCompletionSource changed;
        lock (_peersChangedGate)
        {
            changed = _peersChanged;
            _peersChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>At stop, once the loop is done with the seeds (or was left behind): whoever waits for a seed to answer
    /// (<c>ConnectAsync</c>) is told that the node stopped.</summary>
    private void FailSeedWaiters()
    {
        SeedLink[] seeds;
        try
        {
            seeds = [.. _seeds.Values];
        }
        catch (InvalidOperationException)
        {
            // A hung loop the stop left behind woke up and changed the seeds meanwhile: it disposes them itself.
            return;
        }
        foreach (var seed in seeds) seed.Answered.TrySetException(new NodeStoppedException(Name));
    }

    /// <summary>A task that completes at the next change of the peer table.</summary>
    public Task PeersChanged
    {
        get { lock (_peersChangedGate) return _peersChanged.Task; }
    }
}
