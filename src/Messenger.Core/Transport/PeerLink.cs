using Messenger.Protocol;
using Messenger.Security;
using NetMQ.Sockets;

namespace Messenger.Transport;

/// <summary>
/// Everything this node holds for one peer. Only the node's poller thread reads or writes the fields, except
/// <see cref="Outbound"/>, which senders on any thread append to, <see cref="Data"/>, which they read, and those
/// the data receiver uses, as each one says.
/// </summary>
internal sealed class PeerLink
{
    private DataConnection? _data;
    private long _ackOwed;
    private RouterSession? _ackRoute;
    private long _lastSeen;
    private int _peerMaxMessageSize;

    public PeerLink(NodeId id, string name, PeerAddress address, string discoveredBy, OutboundQueue outbound, long now)
    {
        Id = id;
        IdText = id.ToString();
        Name = name;
        Address = address;
        DiscoveredBy = discoveredBy;
        Outbound = outbound;
        CreatedAt = now;
        LastSeen = now;
        LastSeenWall = DateTimeOffset.UtcNow;
    }

    public NodeId Id { get; }
    public string IdText { get; }
    public string Name { get; }
    public PeerAddress Address { get; set; }
    public string DiscoveredBy { get; }
    public OutboundQueue Outbound { get; }
    public long CreatedAt { get; }

    /// <summary>Our DEALER to its ROUTER, with the session on it.</summary>
    public DealerSession? Session { get; set; }

    /// <summary>Our connection for DATA alone, on which senders send from their own thread when the link is idle;
    /// null until the first message to the peer opens it.</summary>
    public DataConnection? Data
    {
        get => Volatile.Read(ref _data);
        set => Volatile.Write(ref _data, value);
    }

    /// <summary>The largest body the peer accepts, from its WELCOME (0 until then). Senders on any thread read it.</summary>
    public int PeerMaxMessageSize
    {
        get => Volatile.Read(ref _peerMaxMessageSize);
        set => Volatile.Write(ref _peerMaxMessageSize, value);
    }

    /// <summary>When the node last tried to connect the link's sockets (poller): a link made anew whose address could
    /// not be connected to then has no sockets, and the tick tries again.</summary>
    public long ConnectAttemptAt { get; set; }

    /// <summary>When the data connection may be opened again after it failed.</summary>
    public long DataRetryAt { get; set; }

    /// <summary>Data connections in a row that never had anything acknowledged (the peer's data port out of reach):
    /// each waits twice as long before the next is opened.</summary>
    public int DataStalls { get; set; }

    /// <summary>Owes the peer an ACK of its unicast messages up to <paramref name="sequence"/>; returns what was
    /// owed before (0: nothing). The poller and the data receiver.</summary>
    public long OweAck(long sequence)
    {
        // The highest wins: the poller and the data receiver may owe for the same peer at once.
        while (true)
        {
            var owed = Volatile.Read(ref _ackOwed);
            if (owed >= sequence) return owed;
            if (Interlocked.CompareExchange(ref _ackOwed, sequence, owed) == owed) return owed;
        }
    }

    /// <summary>Takes the ACK owed to the peer, for the caller to send (0: none owed): the poller's ACK timer, or
    /// whoever sends DATA to the peer next, in that frame's <c>ack</c> field.</summary>
    public long TakeOwedAck() => Interlocked.Exchange(ref _ackOwed, 0);

    /// <summary>An ACK taken with <see cref="TakeOwedAck"/> could not be sent: owed again, unless a newer one is.</summary>
    public void GiveBackOwedAck(long sequence) => Interlocked.CompareExchange(ref _ackOwed, sequence, 0);

    /// <summary>Whether an ACK is owed (any thread).</summary>
    public bool HasOwedAck => Volatile.Read(ref _ackOwed) != 0;

    /// <summary>The ACK owed (any thread; 0: none).</summary>
    public long OwedAck => Volatile.Read(ref _ackOwed);

    /// <summary>DATA frames from the peer since it was last acknowledged. Poller thread.</summary>
    public int FramesOwed { get; set; }

    /// <summary>The same, for DATA that came to the data receiver. Its thread only.</summary>
    public int DataFramesOwed { get; set; }

    /// <summary>The link waits on the data receiver's ACK delay, until <see cref="DataAckDueAt"/>. Its thread only.</summary>
    public bool DataAckScheduled { get; set; }

    public long DataAckDueAt { get; set; }

    /// <summary>Held while the peer's messages are checked against <see cref="SequenceState"/> and queued: the
    /// poller and the data receiver both deliver them.</summary>
    public Lock DeliveryGate { get; } = new();

    /// <summary>Under <see cref="DeliveryGate"/>: this node, leaving, has sent the peer its final ACK, and delivers no
    /// more of its unicast.</summary>
    public bool UnicastClosed { get; set; }

    /// <summary>The peer's session on which its DATA is acknowledged. The poller and the data receiver.</summary>
    public RouterSession? AckRoute
    {
        get => Volatile.Read(ref _ackRoute);
        set => Volatile.Write(ref _ackRoute, value);
    }

    /// <summary>The link waits on the node's ACK timer. Poller thread.</summary>
    public bool AckScheduled { get; set; }

    /// <summary>When the ACK timer sends what this link owes (Environment.TickCount64): a full delay after it began
    /// to owe. Poller thread.</summary>
    public long AckDueAt { get; set; }

    /// <summary>Watches our DEALER's connection: a peer whose process dies closes it, which tells us long before
    /// its silence would.</summary>
    public ConnectionWatch? Watch { get; set; }

    /// <summary>When our DEALER's connection dropped and has not come back (0: it is up).</summary>
    public long DisconnectedAt { get; set; }

    /// <summary>Our SUB connected to its PUB alone, so every frame on it comes from this peer's endpoint.</summary>
    public SubscriberSocket? Subscriber { get; set; }

    /// <summary>Its broadcast key (secure mode), given inside its authenticated session.</summary>
    public byte[]? BroadcastKey { get; set; }
    public FrameOpener? BroadcastOpener { get; set; }

    /// <summary>The broadcast key it had when this node last removed it (<see cref="PeerStreams"/>): the same key in
    /// the new link's handshake is the same incarnation, whose counts go on.</summary>
    public byte[]? RememberedBroadcastKey { get; set; }

    /// <summary>Its incarnation from its last HELLO (insecure mode; secure mode tells one by the broadcast key).</summary>
    public Guid PlainIncarnation { get; set; }

    public List<RouterSession> Routes { get; } = [];

    /// <summary>Our HELLO was answered with WELCOME: unicast from us to it works.</summary>
    public bool Welcomed { get; set; }

    /// <summary>This node, leaving, said LEAVE to it and waits for its LEAVE_ACK: the only one that counts.</summary>
    public bool AwaitingLeaveAck { get; set; }

    /// <summary>This node, leaving, owes it LEAVE but will not wait for its LEAVE_ACK: the peer was unreachable when the
    /// leave began.</summary>
    public bool LeaveUnanswered { get; set; }

    /// <summary>The count of the peer's broadcasts started at its PUB_PROBE (poller thread; see
    /// <c>StartCountingTheirBroadcasts</c>); a new incarnation of the peer starts it again.</summary>
    public bool CountsTheirBroadcasts { get; set; }

    /// <summary>Our SUB received its PUB_PROBE: its broadcasts reach us.</summary>
    public bool HearsTheirBroadcast { get; set; }

    /// <summary>Protocol 1, after a RESET: the peer may be a new process on the old address, which our SUB may not
    /// hear yet. Its broadcasts are still taken, but SUB_READY waits for a new PUB_PROBE.</summary>
    public bool ProbeAgain { get; set; }

    /// <summary>Whether our SUB is to be proven (again) by SUB_PROBE before we say SUB_READY.</summary>
    public bool Probing => !HearsTheirBroadcast || ProbeAgain;

    /// <summary>It sent SUB_READY: our broadcasts reach it, and its unicast reaches us.</summary>
    public bool TheyHearOurBroadcast { get; set; }

    public bool EverConnected { get; set; }

    /// <summary>It welcomed our session at the link's present address: it proved there to be this node (secure mode:
    /// by its key). Until the link moves again, a beacon or a PEERS list, which anyone can send, does not move it (the
    /// node's own HELLO from elsewhere does). A HELLO alone proves who the node is, not that the address it names
    /// reaches it: a host on several subnets names one, and may be reached only at another, which its beacon tells.
    /// Poller thread.</summary>
    public bool Proven { get; set; }

    /// <summary>A handshake proved who it is, its name included (secure mode; insecure nodes prove nothing): it welcomed
    /// us, its own HELLO found or reached the link, or a seed's handshake named it. Unlike <see cref="Proven"/> it stays
    /// when the link moves. Poller thread.</summary>
    public bool IdentityProven { get; set; }

    /// <summary>The last of our broadcasts it acknowledged (BROADCAST_ACK); -1 while it does not count for our
    /// broadcasts' window (not connected, or our broadcasts do not reach it). Poller thread.</summary>
    public long BroadcastAcked { get; set; } = -1;

    /// <summary>When <see cref="BroadcastAcked"/> last moved or started to count. Poller thread.</summary>
    public long BroadcastAckedAt { get; set; }

    /// <summary>It stopped acknowledging our broadcasts while they waited for it: they no longer do, until it
    /// acknowledges again. Poller thread.</summary>
    public bool BroadcastLeftBehind { get; set; }

    /// <summary>Its broadcasts that never reached us (gaps in its sequence) not yet logged and raised, and when we
    /// last did. Poller thread.</summary>
    public long BroadcastsMissedUnreported { get; set; }
    public long BroadcastsMissedReportedAt { get; set; } = long.MinValue / 2;

    /// <summary>Its broadcast frames delivered since we last acknowledged them. Poller thread.</summary>
    public int BroadcastFramesOwed { get; set; }
    public PeerState State { get; set; } = PeerState.Joining;
    public long UnreachableSince { get; set; }
    /// <summary>Also written by the data receiver.</summary>
    public long LastSeen
    {
        get => Volatile.Read(ref _lastSeen);
        set => Volatile.Write(ref _lastSeen, value);
    }
    public DateTimeOffset LastSeenWall { get; set; }
    public TimeSpan? RoundTrip { get; set; }
    public long LastProbeSent { get; set; } = long.MinValue / 2;

    /// <summary>Milliseconds from the last broadcast probe to the next while none has come back (it backs off).</summary>
    public int ProbeInterval { get; set; }
    public long LastPingSent { get; set; } = long.MinValue / 2;
    public ulong ProbeToken { get; set; }

    /// <summary>The token of the peer's last SUB_PROBE to us: our publisher, made anew, probes the peer with it.</summary>
    public ulong PeerProbeToken { get; set; }

    /// <summary>Our publisher was made anew while the peer heard it: we publish PUB_PROBE with its token until its
    /// SUB_READY says that its subscription reached the new one.</summary>
    public bool ProbingForPublisher { get; set; }

    /// <summary>When <see cref="ProbingForPublisher"/> began (Environment.TickCount64).</summary>
    public long ProbingForPublisherSince { get; set; }

    /// <summary>The DEALER refused a frame (high-water mark): flushing waits for its SendReady.</summary>
    public bool Blocked { get; set; }

    public EventHandler<NetMQ.NetMQSocketEventArgs>? SendReadyHandler { get; set; }

    /// <summary>The last sequence numbers delivered from it: [0] unicast, [1] broadcast. An array so that the
    /// receive path can update either through one reference.</summary>
    public long[] SequenceState { get; } = new long[2];

    public bool LinksUp => Welcomed && HearsTheirBroadcast && TheyHearOurBroadcast;

    public PeerInfo ToInfo() => new()
    {
        Name = Name,
        Id = Id.ToString(),
        Address = Address.Host,
        Endpoint = Address.Endpoint,
        PublishEndpoint = Address.PublishEndpoint,
        State = State,
        LastSeen = LastSeenWall,
        RoundTrip = RoundTrip,
        DiscoveredBy = DiscoveredBy,
        Cipher = Session is { Established: true, Sealer: { } sealer } ? DataCipher.ToPublic(sealer.Cipher) : null,
        MaxMessageSize = PeerMaxMessageSize is > 0 and var max ? max : null,
    };
}
