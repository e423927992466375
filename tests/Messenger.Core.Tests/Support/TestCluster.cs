namespace Messenger.Tests.Support;

/// <summary>Nodes of one test: a cluster name of their own (so parallel tests ignore each other), the beacon on
/// loopback, and disposal of every node at the end.</summary>
public sealed class TestCluster : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>A loopback TCP port that was free a moment ago, and where nothing listens now.</summary>
    public static int FreeTcpPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private readonly List<MessengerNode> _nodes = [];

    /// <summary>A node that gives up on a silent peer only after a minute: heartbeats must not end a link whose
    /// peer's loop a test holds, nor broadcast flow control leave behind a peer that acknowledges nothing.</summary>
    public static MessengerNodeOptions Patient(MessengerNodeOptions o) =>
        o with { PeerTimeout = TimeSpan.FromSeconds(60), PeerGoneAfter = TimeSpan.FromSeconds(120) };

    public TestCluster(string? cluster = null) => Name = cluster ?? $"t{Guid.NewGuid():N}"[..24];

    public string Name { get; }

    /// <summary>The cluster's secret; each test cluster has its own.</summary>
    public ClusterKey Key { get; } = ClusterKey.Generate();

    /// <summary>Its nodes run insecure (plaintext protocol 1).</summary>
    public bool Insecure { get; init; }

    /// <summary>Options for a node of this cluster: its own new key pair, the cluster's key (secure clusters), the beacon on
    /// loopback only. Nothing is read from or written to the user's ~/.messenger.</summary>
    public MessengerNodeOptions Options(string name) => MessengerNodeOptions.Default with
    {
        Insecure = Insecure,
        Name = name,
        Cluster = Name,
        BindAddress = "127.0.0.1",
        BeaconInterface = "lo",
        KeyPair = MessengerKeyPair.Generate(),
        ClusterKey = Insecure ? null : Key,
    };

    public async Task<MessengerNode> StartAsync(string name, Func<MessengerNodeOptions, MessengerNodeOptions>? configure = null)
    {
        var options = Options(name);
        if (configure is not null) options = configure(options);
        var node = await MessengerNode.StartAsync(options);
        _nodes.Add(node);
        return node;
    }

    /// <summary>Starts the named nodes and waits until each sees all the others connected.</summary>
    public async Task<MessengerNode[]> StartConnectedAsync(params string[] names)
    {
        var nodes = new MessengerNode[names.Length];
        for (var i = 0; i < names.Length; i++) nodes[i] = await StartAsync(names[i]);
        await Task.WhenAll(nodes.Select(n => n.WaitForPeersAsync(names.Where(x => x != n.Name), Timeout)));
        return nodes;
    }

    /// <summary>Starts nodes "a" and "b", each with its own settings, and waits until each sees the other connected.</summary>
    public async Task<(MessengerNode A, MessengerNode B)> StartPairAsync(
        Func<MessengerNodeOptions, MessengerNodeOptions>? configureA = null, Func<MessengerNodeOptions, MessengerNodeOptions>? configureB = null)
    {
        var a = await StartAsync("a", configureA);
        var b = await StartAsync("b", configureB);
        await Task.WhenAll(a.WaitForPeersAsync(["b"], Timeout), b.WaitForPeersAsync(["a"], Timeout));
        return (a, b);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes) await node.DisposeAsync();
    }

    /// <summary>Reads exactly <paramref name="count"/> messages, or fails after the timeout.</summary>
    public static async Task<List<MessengerMessage>> ReadAsync(MessengerNode node, int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        var list = new List<MessengerMessage>(count);
        try
        {
            while (list.Count < count) list.Add(await node.ReadAsync(cts.Token));
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{node.Name} received {list.Count} of {count} messages in time");
        }
        return list;
    }

    /// <summary>Sends acknowledged messages from <paramref name="from"/> to <paramref name="to"/>, and reads them there,
    /// until the link's data connection is ready: later DATA goes on it, to the data receiver.</summary>
    public static async Task OpenDataConnectionAsync(MessengerNode from, MessengerNode to)
    {
        while (await from.Runtime.DataConnectionAsync(to.Name) != Messenger.Transport.DataConnectionState.Ready)
        {
            await from.SendAsync(to.Name, "warm-up", topic: null, requireAck: true);
            await ReadAsync(to, 1);
        }
    }
}
