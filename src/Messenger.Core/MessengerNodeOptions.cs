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

    /// <summary>The address the node's sockets bind to: an IPv4 address, or "*" for every interface.</summary>
    public string BindAddress { get; init; } = "*";

    /// <summary>The host peers are told to connect to when they learn of this node other than by its beacon
    /// (seeds, membership lists). Null: the bind address when it names one, else this host's first address on
    /// the beacon's interface, else 127.0.0.1.</summary>
    public string? AdvertisedHost { get; init; }

    /// <summary>TCP port of the unicast (ROUTER) socket; 0 lets the system pick a free one.</summary>
    public int Port { get; init; }

    /// <summary>TCP port of the broadcast (PUB) socket; 0 lets the system pick a free one.</summary>
    public int PublishPort { get; init; }

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

    /// <summary>A peer from which nothing arrived for this long is reported unreachable.</summary>
    public TimeSpan PeerTimeout { get; init; } = TimeSpan.FromMilliseconds(1500);

    /// <summary>An unreachable peer that stays silent this long is reported gone and removed from the peer table.</summary>
    public TimeSpan PeerGoneAfter { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The largest message body accepted, in bytes, on send and on receipt.</summary>
    public int MaxMessageSize { get; init; } = 1024 * 1024;

    /// <summary>How many received messages wait for the application at most.</summary>
    public int ReceiveQueueCapacity { get; init; } = 1024 * 1024;

    /// <summary>What happens to a message that arrives while the receive queue is full; every drop is counted
    /// and raised as <see cref="MessengerNode.MessageDropped"/>.</summary>
    public ReceiveFullMode ReceiveFullMode { get; init; } = ReceiveFullMode.DropNewest;

    /// <summary>How many bytes of messages may wait to be sent to one peer; a send beyond that waits for room.</summary>
    public long SendQueueLimitBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>How long a stopping node waits for its peers to acknowledge its leave message.</summary>
    public TimeSpan LeaveTimeout { get; init; } = TimeSpan.FromMilliseconds(250);

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
