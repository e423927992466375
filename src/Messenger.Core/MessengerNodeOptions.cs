using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Messenger;

/// <summary>
/// Settings of one <see cref="MessengerNode"/>. Start from <see cref="Default"/> and change a copy with
/// <c>with</c>: <c>MessengerNodeOptions.Default with { Name = "web1" }</c>.
/// </summary>
public sealed record MessengerNodeOptions
{
    /// <summary>The defaults: beacon discovery on, security settings of the current user, ports picked by the system.</summary>
    public static MessengerNodeOptions Default { get; } = new();

    /// <summary>The node's name, unique in its cluster: 1-64 characters of letters, digits, '.', '_' and '-'.
    /// Defaults to the host name and process id.</summary>
    public string Name { get; init; } = DefaultName();

    /// <summary>Nodes only talk to nodes of the same cluster; clusters on one network ignore each other.</summary>
    public string Cluster { get; init; } = "messenger";

    /// <summary>The address the node's sockets bind to: an IPv4 address, or "*" (or "0.0.0.0") for every interface.</summary>
    public string BindAddress { get; init; } = "*";

    /// <summary>The host peers are told to connect to when they learn of this node other than by its beacon
    /// (seeds, membership lists). Null: the bind address when it names one (not "*" or "0.0.0.0"), else this host's first address on
    /// the beacon's interface, else 127.0.0.1.</summary>
    public string? AdvertisedHost { get; init; }

    /// <summary>TCP port of the unicast (ROUTER) socket; 0 lets the system pick a free one.</summary>
    public int Port { get; init; }

    /// <summary>TCP port of the broadcast (PUB) socket; 0 lets the system pick a free one.</summary>
    public int PublishPort { get; init; }

    /// <summary>TCP port of the data receiver (a second ROUTER, read by a thread of its own, where peers' data
    /// connections send their DATA); 0 lets the system pick a free one. Peers learn it in the
    /// handshake, so it needs no configuring but where ports must be fixed (containers, firewalls).</summary>
    public int DataPort { get; init; }

    /// <summary>Whether the node announces itself and listens for others with a UDP beacon.</summary>
    public bool BeaconEnabled { get; init; } = true;

    /// <summary>The UDP port of the beacon; every node of a cluster on one network must use the same one.</summary>
    public int BeaconPort { get; init; } = 5670;

    /// <summary>Which network interface the beacon announces on: null for every broadcast-capable interface that
    /// is up (or loopback when there is none), an interface name such as "eth0" or "lo", or one of this host's
    /// IPv4 addresses. The environment variable MESSENGER_BEACON_INTERFACE overrides the null default.</summary>
    public string? BeaconInterface { get; init; }

    /// <summary>How often the beacon announces the node.</summary>
    public TimeSpan BeaconInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Endpoints (tcp://host:port of a node's unicast socket) to join through, with or without the beacon.</summary>
    public IReadOnlyList<string> Seeds { get; init; } = [];

    /// <summary>How often the node sends each peer a heartbeat.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A peer from which nothing arrived for this long is reported unreachable. A peer whose process dies
    /// is reported sooner: its connection closes, and one <see cref="HeartbeatInterval"/> later it is unreachable.</summary>
    public TimeSpan PeerTimeout { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>An unreachable peer that stays silent this long is reported gone and removed from the peer table.</summary>
    public TimeSpan PeerGoneAfter { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The largest message body accepted, in bytes, on send and on receipt.</summary>
    public int MaxMessageSize { get; init; } = 1024 * 1024;

    /// <summary>How many received messages wait for the application at most.</summary>
    public int ReceiveQueueCapacity { get; init; } = 1024 * 1024;

    /// <summary>What happens to a message that arrives while the receive queue is full; every drop is counted
    /// and raised as <see cref="MessengerNode.MessageDropped"/>.</summary>
    public ReceiveFullMode ReceiveFullMode { get; init; } = ReceiveFullMode.DropNewest;

    /// <summary>How many bytes one peer's queue may hold: messages waiting to be sent, and the frames kept until the
    /// peer acknowledges them (each counts its whole buffer, however little it carries: 64 KiB, or a larger message's rounded up to a power of two). A send beyond
    /// that waits for room.</summary>
    public long SendQueueLimitBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>The supervisor restarts a failed part at most this many times within <see cref="RestartPeriod"/>;
    /// one more failure stops the node as Faulted.</summary>
    public int MaxRestarts { get; init; } = 5;

    /// <summary>The window of <see cref="MaxRestarts"/>.</summary>
    public TimeSpan RestartPeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A node loop that answers no health probe for this long is hung: the node escalates to Faulted.</summary>
    public TimeSpan HangTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an acknowledged send waits for the peer's acknowledgement.</summary>
    public TimeSpan AckTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a stopping node waits for its peers to acknowledge its leave message.</summary>
    public TimeSpan LeaveTimeout { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The node's identity key pair. Null: read from <see cref="KeyPath"/>, created there on first start.</summary>
    public MessengerKeyPair? KeyPair { get; init; }

    /// <summary>The identity key file. Null: $MESSENGER_HOME/keys/&lt;cluster&gt;/&lt;name&gt;.key, where
    /// MESSENGER_HOME defaults to ~/.messenger. Created with mode 0600.</summary>
    public string? KeyPath { get; init; }

    /// <summary>The cluster key every member holds. Null: read from <see cref="ClusterKeyPath"/>, unless
    /// <see cref="AllowedKeys"/> alone decides membership.</summary>
    public ClusterKey? ClusterKey { get; init; }

    /// <summary>The cluster key file. Null: $MESSENGER_HOME/cluster.key (~/.messenger/cluster.key), created with
    /// mode 0600 on first use, so that one user's nodes on one machine form a secure cluster with no setup.</summary>
    public string? ClusterKeyPath { get; init; }

    /// <summary>Public keys (base64) of the nodes allowed to join; empty admits every holder of the cluster key.
    /// With a list and no cluster key or key path set, the list alone decides membership.</summary>
    public IReadOnlyList<string> AllowedKeys { get; init; } = [];

    /// <summary>Plaintext and unauthenticated links, for debugging only: logged loudly at start. Such a node
    /// speaks wire protocol 1 and cannot talk to secure nodes. It cannot go with <see cref="ClusterKey"/>,
    /// <see cref="ClusterKeyPath"/> or <see cref="AllowedKeys"/>: a node given a key is not left open.</summary>
    public bool Insecure { get; init; }

    /// <summary>The AEAD that seals frames after the handshake. A link uses AES-256-GCM when both of its ends
    /// prefer it, else ChaCha20-Poly1305; a node seals its broadcasts with its own preference (every node opens
    /// both). Auto (the default) prefers AES-256-GCM where the processor has AES instructions. Secure mode only.</summary>
    public MessengerCipher Cipher { get; init; } = MessengerCipher.Auto;

    /// <summary>Unicast messages to an idle peer are sealed and sent on the calling thread, over a second
    /// connection to that peer that carries only DATA, instead of being handed to the node's poller thread: a
    /// round trip then saves two thread wake-ups. On by default.</summary>
    public bool DirectSends { get; init; } = true;

    /// <summary>How many peers the node links to at most; discoveries beyond are dropped and counted.</summary>
    public int MaxPeers { get; init; } = 1024;

    /// <summary>How many handshakes may be half-way at once; the oldest is dropped to make room.</summary>
    public int MaxPendingHandshakes { get; init; } = 256;

    /// <summary>How long a half-way handshake is kept.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How many new handshakes per second the node answers; the rest are dropped and counted, so a flood
    /// of strangers cannot starve the members' traffic.</summary>
    public int MaxHandshakesPerSecond { get; init; } = 100;

    /// <summary>HELLOs one inbound connection may send at once before <see cref="HelloIntervalPerConnection"/>
    /// paces it, ahead of the node-wide <see cref="MaxHandshakesPerSecond"/>; a legitimate peer sends one a second
    /// at most, so one connection's flood cannot take the whole node-wide rate.</summary>
    public int HelloBurstPerConnection { get; init; } = 4;

    /// <summary>How often a connection that used up its <see cref="HelloBurstPerConnection"/> gets another HELLO.</summary>
    public TimeSpan HelloIntervalPerConnection { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>A connection that sends sealed frames without a session is told RESET (to start over) at most once
    /// in this time; every frame is counted all the same.</summary>
    public TimeSpan StrangerResetInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Frames from connections without a session (strangers, and peers still handshaking) that the node
    /// reads in one go before it serves its members, timers and other sockets again; members' frames do not count.</summary>
    public int MaxStrangerFramesPerWakeup { get; init; } = 64;

    /// <summary>Inbound connections whose per-connection budgets (<see cref="HelloBurstPerConnection"/>,
    /// <see cref="StrangerResetInterval"/>) are tracked at most; past it a new connection is not tracked and only
    /// the node-wide limits apply to it, so the table cannot grow without bound.</summary>
    public int MaxTrackedConnections { get; init; } = 4096;

    /// <summary>Where the node logs; nothing is logged by default.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    private static string DefaultName()
    {
        var host = new string(Environment.MachineName.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.').ToArray());
        if (host.Length == 0) host = "node";
        if (host.Length > 50) host = host[..50];
        return $"{host}-{Environment.ProcessId}";
    }
}
