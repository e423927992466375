using System.Management.Automation;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Start-MessengerNode: starts a node in this session and outputs it. Several nodes may run in one session,
/// each under its own name and ports. Names come by value or by property name from the pipeline.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "MessengerNode", SupportsShouldProcess = true)]
[OutputType(typeof(MessengerNodeInfo))]
public sealed class StartMessengerNodeCommand : MessengerCmdlet
{
    // The longest time setting taken: the engine waits with timers of int milliseconds (about 24.8 days).
    private static readonly TimeSpan MaxTime = TimeSpan.FromMilliseconds(int.MaxValue);

    private static MessengerNodeOptions Defaults => MessengerNodeOptions.Default;
    /// <summary>The node's name, unique in its cluster: 1-64 letters, digits, '.', '_' or '-'. Default: host name and process id.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>The cluster: nodes only talk to nodes of the same cluster. Default: messenger.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Cluster { get; set; }

    /// <summary>TCP port of the unicast socket; 0 (the default) lets the system pick one.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, 65535)]
    public int Port { get; set; }

    /// <summary>TCP port of the broadcast socket; 0 (the default) lets the system pick one.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, 65535)]
    public int PublishPort { get; set; }

    /// <summary>TCP port of the data receiver; 0 (the default) lets the system pick one.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, 65535)]
    public int DataPort { get; set; }

    /// <summary>The IPv4 address the sockets bind to, or * for every interface (the default).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? BindAddress { get; set; }

    /// <summary>The host other nodes are told to connect to when they learn of this one from seeds or membership.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? AdvertisedHost { get; set; }

    /// <summary>Endpoints (tcp://host:port) of nodes to join through, with or without the beacon.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public string[]? Seed { get; set; }

    /// <summary>Turns the UDP beacon off: the node then finds peers only through -Seed and Connect-MessengerPeer.</summary>
    [Parameter]
    public SwitchParameter NoBeacon { get; set; }

    /// <summary>The interface the beacon announces on: a name such as eth0 or lo, or one of this host's IPv4 addresses.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? BeaconInterface { get; set; }

    /// <summary>The beacon's UDP port; every node of a cluster on one network uses the same. Default 5670.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(1, 65535)]
    public int BeaconPort { get; set; } = Defaults.BeaconPort;

    /// <summary>How often the beacon announces the node: a TimeSpan or a number of seconds. Default 0.25 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan BeaconInterval { get; set; } = Defaults.BeaconInterval;

    /// <summary>How often the node sends each peer a heartbeat: a TimeSpan or a number of seconds. Default 0.25 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan HeartbeatInterval { get; set; } = Defaults.HeartbeatInterval;

    /// <summary>A peer silent this long is reported unreachable: a TimeSpan or seconds. Default 4 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan PeerTimeout { get; set; } = Defaults.PeerTimeout;

    /// <summary>An unreachable peer silent this long is reported gone (PeerLeft): a TimeSpan or seconds. Default 10 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan PeerGoneAfter { get; set; } = Defaults.PeerGoneAfter;

    /// <summary>The largest message body sent or accepted, in bytes. Default 1 MiB.</summary>
    [Parameter]
    [ValidateRange(1, 256 * 1024 * 1024)]
    public int MaxMessageSize { get; set; } = Defaults.MaxMessageSize;

    /// <summary>How many received messages wait for Receive-MessengerMessage at most. Default 1,048,576.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int ReceiveQueueCapacity { get; set; } = Defaults.ReceiveQueueCapacity;

    /// <summary>What happens to a message that arrives while the receive queue is full: DropNewest (the default)
    /// drops it, DropOldest drops the oldest waiting one. Every drop raises MessageDropped.</summary>
    [Parameter]
    public ReceiveFullMode ReceiveFullMode { get; set; } = Defaults.ReceiveFullMode;

    /// <summary>The AEAD that seals frames after the handshake: Auto (the default) prefers AES-256-GCM where the
    /// processor has AES instructions; a link uses AES-256-GCM when both ends prefer it, else ChaCha20-Poly1305.</summary>
    [Parameter]
    public MessengerCipher Cipher { get; set; } = Defaults.Cipher;

    /// <summary>How many bytes of messages may wait to be sent to one peer; a send beyond waits for room. At least
    /// 64 KiB; default 64 MiB.</summary>
    [Parameter]
    [ValidateRange(64L * 1024, long.MaxValue)]
    public long SendQueueLimitBytes { get; set; } = Defaults.SendQueueLimitBytes;

    /// <summary>How long Send-MessengerMessage -WaitForAck waits for the peer's acknowledgement: a TimeSpan or
    /// seconds. Default 10 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan AckTimeout { get; set; } = Defaults.AckTimeout;

    /// <summary>How long a stopping node waits for its peers to acknowledge its leave message: a TimeSpan or
    /// seconds. Default 0.25 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan LeaveTimeout { get; set; } = Defaults.LeaveTimeout;

    /// <summary>How many peers the node links to at most; discoveries beyond are dropped and counted. Default 1024.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int MaxPeers { get; set; } = Defaults.MaxPeers;

    /// <summary>How many handshakes may be half-way at once; the oldest is dropped to make room. Default 256.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int MaxPendingHandshakes { get; set; } = Defaults.MaxPendingHandshakes;

    /// <summary>How many new handshakes per second the node answers; the rest are dropped and counted. Default 100.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int MaxHandshakesPerSecond { get; set; } = Defaults.MaxHandshakesPerSecond;

    /// <summary>How long a half-way handshake is kept: a TimeSpan or seconds. Default 5 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan HandshakeTimeout { get; set; } = Defaults.HandshakeTimeout;

    /// <summary>HELLOs one inbound connection may send at once before -HelloIntervalPerConnection paces it, ahead of
    /// the node-wide -MaxHandshakesPerSecond. Default 4.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int HelloBurstPerConnection { get; set; } = Defaults.HelloBurstPerConnection;

    /// <summary>How often a connection that used up its -HelloBurstPerConnection gets another HELLO: a TimeSpan or
    /// seconds. Default 0.5 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan HelloIntervalPerConnection { get; set; } = Defaults.HelloIntervalPerConnection;

    /// <summary>A connection sending sealed frames without a session is told RESET at most once in this time: a
    /// TimeSpan or seconds. Default 1 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan StrangerResetInterval { get; set; } = Defaults.StrangerResetInterval;

    /// <summary>Frames from connections without a session that the node reads in one go before it serves its
    /// members again. Default 64.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int MaxStrangerFramesPerWakeup { get; set; } = Defaults.MaxStrangerFramesPerWakeup;

    /// <summary>Inbound connections whose per-connection budgets are tracked at most; past it only the node-wide
    /// limits apply to a new one. Default 4096.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int MaxTrackedConnections { get; set; } = Defaults.MaxTrackedConnections;

    /// <summary>The supervisor restarts a failed part of the node at most this many times within -RestartPeriod;
    /// one more failure stops the node as Faulted. 0 faults at the first failure. Default 5.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int MaxRestarts { get; set; } = Defaults.MaxRestarts;

    /// <summary>The window of -MaxRestarts: a TimeSpan or seconds. Default 10 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan RestartPeriod { get; set; } = Defaults.RestartPeriod;

    /// <summary>A node loop that answers no health probe for this long is hung and the node faults: a TimeSpan or
    /// seconds. Default 10 s.</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan HangTimeout { get; set; } = Defaults.HangTimeout;

    /// <summary>The cluster key every member holds: a key object (New-MessengerClusterKey) or its base64 text.
    /// Default: the key in -ClusterKeyPath, else in $env:MESSENGER_HOME/cluster.key (created on first use).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public object? ClusterKey { get; set; }

    /// <summary>A file holding the cluster key (New-MessengerClusterKey -Path), created when missing.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? ClusterKeyPath { get; set; }

    /// <summary>Public keys (base64, or key pairs and nodes) of the nodes allowed to join. Without -ClusterKey or
    /// -ClusterKeyPath, the list alone decides membership.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [PublicKeyTransformation]
    [ValidateNotNull]
    public string[]? AllowedKey { get; set; }

    /// <summary>Plaintext, unauthenticated links, for debugging only (wire protocol 1): the node talks only to other
    /// insecure nodes and admits any of them, so it refuses -ClusterKey, -ClusterKeyPath and -AllowedKey. Warns at
    /// every start.</summary>
    [Parameter]
    public SwitchParameter Insecure { get; set; }

    /// <summary>The node's identity key file (New-MessengerKeyPair -Path), created when missing. Default:
    /// $env:MESSENGER_HOME/keys/&lt;cluster&gt;/&lt;name&gt;.key.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? KeyPath { get; set; }

    /// <summary>The node's identity key pair (New-MessengerKeyPair), instead of a key file.</summary>
    [Parameter]
    [ValidateNotNull]
    public MessengerKeyPair? KeyPair { get; set; }

    /// <summary>A file to append the node's log to (discovery, handshakes, peers coming and going, failures).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LogPath { get; set; }

    /// <summary>The least severe log entries written to -LogPath: Trace, Debug, Information (the default), Warning, Error or Critical.</summary>
    [Parameter]
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; set; } = Microsoft.Extensions.Logging.LogLevel.Information;

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        MessengerNodeOptions options;
        try
        {
            options = BuildOptions();
        }
        catch (MessengerException e)
        {
            WriteError(ErrorFactory.FromException(e, Name));
            return;
        }
        if (NodeRegistry.Contains(options.Name))
        {
            WriteError(ErrorFactory.NodeNameInUseError(options.Name));
            return;
        }
        if (!ShouldProcess($"{options.Name} (cluster {options.Cluster}{(options.Insecure ? ", INSECURE" : "")})", "Start Messenger node")) return;
        if (options.Insecure)
        {
            WriteWarning($"Node {options.Name} runs INSECURE: its links are PLAINTEXT and unauthenticated, so anyone on the network " +
                "can read its messages, forge them and join. It talks only to other -Insecure nodes. Use it for debugging only.");
        }

        FileLoggerFactory? log = null;
        if (LogPath is not null)
        {
            var path = FileSystemPath(LogPath, nameof(LogPath));
            try
            {
                log = new FileLoggerFactory(path, LogLevel);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                WriteError(ErrorFactory.FromException(new MessengerConfigurationException("LogPath", $"cannot write the log file '{path}': {e.Message}", e), path));
                return;
            }
            options = options with { LoggerFactory = log };
        }

        MessengerNode node;
        try
        {
            node = Await(MessengerNode.StartAsync(options, StopToken));
        }
        catch (MessengerException e)
        {
            log?.Dispose();
            WriteError(ErrorFactory.FromException(e, options.Name));
            return;
        }
        catch
        {
            log?.Dispose();
            throw;
        }

        var info = new MessengerNodeInfo(node, log) { StartedIn = System.Management.Automation.Runspaces.Runspace.DefaultRunspace?.InstanceId };
        if (!NodeRegistry.TryAdd(info))
        {
            // Another runspace of this process took the name meanwhile.
            Await(node.StopAsync());
            WriteError(ErrorFactory.NodeNameInUseError(options.Name));
            return;
        }
        WriteVerbose($"Node {info.Name} listens on {info.Endpoint} (broadcast {info.PublishEndpoint}), cluster {info.Cluster}.");
        WriteObject(info);
    }

    private MessengerNodeOptions BuildOptions()
    {
        var bound = MyInvocation.BoundParameters;
        if (Insecure && (ClusterKey is not null || ClusterKeyPath is not null || AllowedKey is not null))
        {
            // Pipeline rows may bring these by property name: refuse, rather than let a row believe it is protected.
            throw new MessengerConfigurationException(nameof(Insecure), "an insecure node admits every insecure node and " +
                "authenticates none, so -ClusterKey, -ClusterKeyPath and -AllowedKey cannot go with it. Leave them out, or leave out -Insecure.");
        }
        var o = MessengerNodeOptions.Default;
        if (Name is not null) o = o with { Name = Name };
        if (Cluster is not null) o = o with { Cluster = Cluster };
        if (bound.ContainsKey(nameof(Port))) o = o with { Port = Port };
        if (bound.ContainsKey(nameof(PublishPort))) o = o with { PublishPort = PublishPort };
        if (bound.ContainsKey(nameof(DataPort))) o = o with { DataPort = DataPort };
        if (BindAddress is not null) o = o with { BindAddress = BindAddress };
        if (AdvertisedHost is not null) o = o with { AdvertisedHost = AdvertisedHost };
        if (Seed is not null) o = o with { Seeds = Seed };
        if (NoBeacon) o = o with { BeaconEnabled = false };
        if (BeaconInterface is not null) o = o with { BeaconInterface = BeaconInterface };
        if (bound.ContainsKey(nameof(BeaconPort))) o = o with { BeaconPort = BeaconPort };
        // The tuning settings start at the engine's defaults, so each can be set whether bound or not.
        o = o with
        {
            BeaconInterval = Time(BeaconInterval, nameof(BeaconInterval)),
            HeartbeatInterval = Time(HeartbeatInterval, nameof(HeartbeatInterval)),
            PeerTimeout = Time(PeerTimeout, nameof(PeerTimeout)),
            PeerGoneAfter = Time(PeerGoneAfter, nameof(PeerGoneAfter)),
            MaxMessageSize = MaxMessageSize,
            ReceiveQueueCapacity = ReceiveQueueCapacity,
            ReceiveFullMode = ReceiveFullMode,
            Cipher = Cipher,
            SendQueueLimitBytes = SendQueueLimitBytes,
            AckTimeout = Time(AckTimeout, nameof(AckTimeout)),
            LeaveTimeout = Time(LeaveTimeout, nameof(LeaveTimeout)),
            MaxPeers = MaxPeers,
            MaxPendingHandshakes = MaxPendingHandshakes,
            MaxHandshakesPerSecond = MaxHandshakesPerSecond,
            HandshakeTimeout = Time(HandshakeTimeout, nameof(HandshakeTimeout)),
            HelloBurstPerConnection = HelloBurstPerConnection,
            HelloIntervalPerConnection = Time(HelloIntervalPerConnection, nameof(HelloIntervalPerConnection)),
            StrangerResetInterval = Time(StrangerResetInterval, nameof(StrangerResetInterval)),
            MaxStrangerFramesPerWakeup = MaxStrangerFramesPerWakeup,
            MaxTrackedConnections = MaxTrackedConnections,
            MaxRestarts = MaxRestarts,
            RestartPeriod = Time(RestartPeriod, nameof(RestartPeriod)),
            HangTimeout = Time(HangTimeout, nameof(HangTimeout)),
            Insecure = Insecure.IsPresent,
        };
        if (ClusterKey is not null) o = o with { ClusterKey = ToClusterKey(ClusterKey) };
        if (ClusterKeyPath is not null) o = o with { ClusterKeyPath = FileSystemPath(ClusterKeyPath, nameof(ClusterKeyPath)) };
        if (AllowedKey is not null) o = o with { AllowedKeys = AllowedKey };
        if (KeyPath is not null) o = o with { KeyPath = FileSystemPath(KeyPath, nameof(KeyPath)) };
        if (KeyPair is not null) o = o with { KeyPair = KeyPair };
        return o;
    }

    // Zero and negative times are the engine's to refuse (it names the option); times its timers cannot hold are ours.
    private static TimeSpan Time(TimeSpan value, string option) => value <= MaxTime
        ? value
        : throw new MessengerConfigurationException(option, $"{value} is longer than {MaxTime} (about {MaxTime.TotalDays:0.#} days), the longest time a node takes.");

    private static ClusterKey ToClusterKey(object value)
    {
        if (value is PSObject pso) value = pso.BaseObject;
        return value switch
        {
            ClusterKey key => key,
            string text => Messenger.ClusterKey.FromBase64(text),
            System.Security.SecureString secure => Messenger.ClusterKey.FromBase64(new System.Net.NetworkCredential(string.Empty, secure).Password),
            _ => throw new MessengerConfigurationException("ClusterKey", $"takes a key from New-MessengerClusterKey or its base64 text, not a {value.GetType().Name}."),
        };
    }
}
