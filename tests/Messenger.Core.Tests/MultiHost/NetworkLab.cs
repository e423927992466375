using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Xunit.Abstractions;

namespace Messenger.Tests.MultiHost;

/// <summary>A host of a <see cref="NetworkLab"/>: a network namespace, the address of its first link "eth0"
/// (null for a loopback-only host), and for a host on both bridges the address of its second link "eth1".</summary>
internal sealed record LabHost(string Label, string Namespace, string? Address, string? SecondAddress = null)
{
    public const string Link = "eth0";
    public const string SecondLink = "eth1";
}

/// <summary>The two bridges a lab can have, each a subnet of its own with no route between them.</summary>
internal enum LabBridge
{
    /// <summary>br0, <see cref="NetworkLab.Subnet"/>.0/24.</summary>
    First,

    /// <summary>br1, <see cref="NetworkLab.SecondSubnet"/>.0/24.</summary>
    Second,
}

/// <summary>
/// Hosts made of network namespaces, for tests that need several machines: a loopback-only host, or hosts joined
/// by Linux bridges that live in a namespace of their own (veth pairs from the bridge namespace to each host, eth0
/// and eth1 inside the host). Two bridges at the most, br0 with <see cref="Subnet"/>.0/24 and br1 with
/// <see cref="SecondSubnet"/>.0/24: the bridge namespace has no address and forwards nothing between them, so a
/// host on one reaches a host on the other only through a host on both (which forwards nothing either). Nothing is
/// created in the root namespace. Every name carries a random run prefix (msgr-&lt;hex&gt;-...), and the addresses
/// exist only inside these namespaces.
/// Also the cluster of the test: a fresh cluster name and key, key files and MESSENGER_HOME in a temp folder.
/// Dispose kills every node process, then deletes every namespace (which deletes the bridges and veths with it)
/// and the temp folder, even after a failure.
/// </summary>
internal sealed class NetworkLab : IAsyncDisposable
{
    public const string Subnet = "10.213.77";
    public const string SecondSubnet = "10.213.78";

    private static readonly ConcurrentDictionary<NetworkLab, byte> Live = new();

    private readonly ITestOutputHelper _output;
    private readonly List<string> _namespaces = [];
    private readonly List<NodeProcess> _nodes = [];
    private readonly Lock _gate = new();
    private readonly HashSet<LabBridge> _bridges = [];
    private string? _bridgeNamespace;
    private int _disposed;

    static NetworkLab()
    {
        // Last resort if the test host exits with a lab still up (a hard failure): the namespaces must not outlive it.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var lab in Live.Keys) lab.DisposeAsync().AsTask().GetAwaiter().GetResult();
        };
    }

    private NetworkLab(ITestOutputHelper output)
    {
        _output = output;
        var run = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        Prefix = $"msgr-{run}";
        Cluster = $"mh-{run}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        TempDirectory = Directory.CreateTempSubdirectory($"{Prefix}-").FullName;
        Directory.CreateDirectory(Path.Combine(TempDirectory, "home"));
        Directory.CreateDirectory(Path.Combine(TempDirectory, "keys"));
        File.WriteAllText(Path.Combine(TempDirectory, OwnerFile), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Live[this] = 0;
    }

    private const string OwnerFile = "owner.pid";

    private static readonly Lazy<Task> Swept = new(SweepStaleAsync);

    /// <summary>
    /// Deletes what a killed test run left behind: namespaces msgr-&lt;hex&gt;-* whose lab folder (the temp folder
    /// msgr-&lt;hex&gt;-*, made before any namespace) is gone or names an owner process that no longer runs. A lab
    /// of a run still going always has its folder and a live owner, so it is never touched.
    /// </summary>
    private static async Task SweepStaleAsync()
    {
        if (IpCommand is null) return;
        var (code, list, _) = await RunAsync(IpCommand, ["netns", "list"], TimeSpan.FromSeconds(10));
        if (code != 0) return;
        var stale = list.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0])
            .Where(ns => System.Text.RegularExpressions.Regex.IsMatch(ns, "^msgr-[0-9a-f]{6}-[a-z0-9]+$"))
            .GroupBy(ns => ns[..11])
            .Where(g => !OwnerAlive(g.Key));
        foreach (var run in stale)
        {
            foreach (var ns in run)
            {
                await KillInsideAsync(ns, null);
                await RunAsync(IpCommand, ["netns", "del", ns], TimeSpan.FromSeconds(10));
            }
            foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), $"{run.Key}-*"))
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
        }
    }

    private static bool OwnerAlive(string prefix)
    {
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), $"{prefix}-*"))
        {
            var owner = Path.Combine(dir, OwnerFile);
            if (!File.Exists(owner)) return true; // a lab being made right now: its owner file comes next
            try
            {
                var pid = int.Parse(File.ReadAllText(owner).Trim(), System.Globalization.CultureInfo.InvariantCulture);
                if (Directory.Exists($"/proc/{pid}")) return true;
            }
            catch (Exception e) when (e is IOException or FormatException or OverflowException or UnauthorizedAccessException)
            {
            }
        }
        return false;
    }

    private static async Task KillInsideAsync(string ns, NetworkLab? lab)
    {
        var (_, pids, _) = await RunAsync(IpCommand!, ["netns", "pids", ns], TimeSpan.FromSeconds(10));
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            try
            {
                using var p = Process.GetProcessById(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture));
                p.Kill();
                lab?.Log($"cleanup: killed {pid} left in {ns}");
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or FormatException or OverflowException)
            {
            }
        }
    }

    /// <summary>The absolute path of the ip command, or null when there is none.</summary>
    public static string? IpCommand { get; } = new[] { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" }.FirstOrDefault(File.Exists);

    /// <summary>msgr-&lt;6 hex digits&gt;: the start of every namespace name of this lab.</summary>
    public string Prefix { get; }

    /// <summary>A cluster name of this lab alone, so nodes of other runs ignore these ones.</summary>
    public string Cluster { get; }

    /// <summary>The cluster key every node of the lab is given.</summary>
    public ClusterKey Key { get; } = ClusterKey.Generate();

    /// <summary>Key files (keys/&lt;name&gt;.key) and MESSENGER_HOME (home/) of the nodes.</summary>
    public string TempDirectory { get; }

    public ITestOutputHelper Output => _output;

    public static async Task<NetworkLab> CreateAsync(ITestOutputHelper output)
    {
        await Swept.Value;
        return new NetworkLab(output);
    }

    /// <summary>A host with nothing but its loopback interface, brought up.</summary>
    public async Task<LabHost> AddLoopbackHostAsync(string label)
    {
        var ns = await AddNamespaceAsync(label);
        await IpAsync("-n", ns, "link", "set", "lo", "up");
        return new LabHost(label, ns, null);
    }

    /// <summary>A host on the lab's first bridge (created with the first host on it): eth0 with Subnet.&lt;index&gt;/24.</summary>
    public Task<LabHost> AddBridgedHostAsync(string label, int index) => AddBridgedHostAsync(label, index, LabBridge.First);

    /// <summary>A host on one of the lab's bridges (each created with the first host on it): eth0 with
    /// &lt;that bridge's subnet&gt;.&lt;index&gt;/24.</summary>
    public async Task<LabHost> AddBridgedHostAsync(string label, int index, LabBridge bridge)
    {
        CheckIndex(index);
        await BridgeAsync(bridge); // made before the host, so that dispose deletes it after the host
        var ns = await AddNamespaceAsync(label);
        await IpAsync("-n", ns, "link", "set", "lo", "up");
        var address = await AttachAsync(ns, $"v-{label}", LabHost.Link, bridge, index);
        return new LabHost(label, ns, address);
    }

    /// <summary>A host on both bridges: eth0 with Subnet.&lt;index&gt;/24 on the first, eth1 with
    /// SecondSubnet.&lt;index&gt;/24 on the second. It forwards nothing from one to the other (a new namespace
    /// starts with forwarding off).</summary>
    public async Task<LabHost> AddHostOnBothBridgesAsync(string label, int index)
    {
        CheckIndex(index);
        await BridgeAsync(LabBridge.First);
        await BridgeAsync(LabBridge.Second);
        var ns = await AddNamespaceAsync(label);
        await IpAsync("-n", ns, "link", "set", "lo", "up");
        var first = await AttachAsync(ns, $"v-{label}", LabHost.Link, LabBridge.First, index);
        var second = await AttachAsync(ns, $"w-{label}", LabHost.SecondLink, LabBridge.Second, index);
        return new LabHost(label, ns, first, second);
    }

    /// <summary>Joins the host's namespace to a bridge by a veth pair: <paramref name="outer"/> in the bridge's
    /// namespace, <paramref name="link"/> in the host's, with &lt;subnet&gt;.&lt;index&gt;/24; returns that address.</summary>
    private async Task<string> AttachAsync(string ns, string outer, string link, LabBridge bridge, int index)
    {
        var bridgeNamespace = await BridgeAsync(bridge);
        var address = $"{SubnetOf(bridge)}.{index}";
        // Both ends are created where they belong: the outer one in the bridge's namespace, the link in the host's.
        await IpAsync("-n", bridgeNamespace, "link", "add", outer, "type", "veth", "peer", "name", link, "netns", ns);
        await IpAsync("-n", bridgeNamespace, "link", "set", outer, "master", BridgeName(bridge));
        await IpAsync("-n", bridgeNamespace, "link", "set", outer, "up");
        await IpAsync("-n", ns, "addr", "add", $"{address}/24", "dev", link);
        await IpAsync("-n", ns, "link", "set", link, "up");
        return address;
    }

    private static void CheckIndex(int index)
    {
        if (index is < 1 or > 254) throw new ArgumentOutOfRangeException(nameof(index));
    }

    public static string SubnetOf(LabBridge bridge) => bridge == LabBridge.First ? Subnet : SecondSubnet;

    private static string BridgeName(LabBridge bridge) => bridge == LabBridge.First ? "br0" : "br1";

    /// <summary>Sets the host's link to the bridge down (cut off) or up (restored), from inside the host.</summary>
    public Task SetLinkAsync(LabHost host, bool up) => IpAsync("-n", host.Namespace, "link", "set", LabHost.Link, up ? "up" : "down");

    /// <summary>Starts a node process on the host, with this lab's cluster, key and folders, and waits for it to
    /// listen. The engine logs to the node's stderr (in failure transcripts) at the level of the environment variable
    /// MESSENGER_TESTNODE_LOG (trace, debug, information, warning: the default). <paramref name="extra"/> adds TestNode options (--no-beacon, --seed, --gone-ms, ...).</summary>
    public async Task<NodeProcess> StartNodeAsync(LabHost host, string name, params string[] extra)
    {
        var args = new List<string>
        {
            "--name", name,
            "--cluster", Cluster,
            "--cluster-key", Key.ToBase64(),
            "--key-path", Path.Combine(TempDirectory, "keys", $"{name}.key"),
            "--log", Environment.GetEnvironmentVariable("MESSENGER_TESTNODE_LOG") is { Length: > 0 } level ? level : "warning",
        };
        args.AddRange(extra);
        var node = NodeProcess.Start(IpCommand!, host, name, args, Path.Combine(TempDirectory, "home"), _output);
        lock (_gate) _nodes.Add(node);
        await node.WaitForStartAsync(TimeSpan.FromSeconds(30));
        return node;
    }

    private async Task<string> AddNamespaceAsync(string label)
    {
        var ns = $"{Prefix}-{label}";
        lock (_gate) _namespaces.Add(ns); // before it exists: a failure half-way still deletes what was made
        await IpAsync("netns", "add", ns);
        return ns;
    }

    /// <summary>The namespace of the bridges, with that bridge in it (each made the first time it is asked for).
    /// Both bridges live in the one namespace "br", so deleting it at dispose, or sweeping it as a leftover of a
    /// killed run, takes both with it.</summary>
    private async Task<string> BridgeAsync(LabBridge bridge)
    {
        _bridgeNamespace ??= await AddNamespaceAsync("br");
        if (!_bridges.Contains(bridge))
        {
            await IpAsync("-n", _bridgeNamespace, "link", "add", BridgeName(bridge), "type", "bridge");
            await IpAsync("-n", _bridgeNamespace, "link", "set", BridgeName(bridge), "up");
            _bridges.Add(bridge);
        }
        return _bridgeNamespace;
    }

    public async Task IpAsync(params string[] args)
    {
        var (code, _, error) = await RunAsync(IpCommand!, args, TimeSpan.FromSeconds(15));
        if (code != 0) throw new InvalidOperationException($"ip {string.Join(' ', args)} failed ({code}): {error.Trim()}");
    }

    public static async Task<(int Code, string Output, string Error)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout.TotalSeconds} s");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        List<NodeProcess> nodes;
        List<string> namespaces;
        lock (_gate)
        {
            nodes = [.. _nodes];
            namespaces = [.. _namespaces];
        }
        foreach (var node in nodes)
        {
            try
            {
                await node.DisposeAsync();
            }
            catch (Exception e)
            {
                Log($"cleanup: node {node.Name}: {e.Message}");
            }
        }
        // Hosts first, then the bridge; kill whatever still runs inside a namespace before deleting it.
        namespaces.Reverse();
        foreach (var ns in namespaces)
        {
            try
            {
                await KillInsideAsync(ns, this);
                var (code, _, error) = await RunAsync(IpCommand!, ["netns", "del", ns], TimeSpan.FromSeconds(10));
                if (code != 0 && !error.Contains("No such file", StringComparison.Ordinal)) Log($"cleanup: ip netns del {ns}: {error.Trim()}");
            }
            catch (Exception e)
            {
                Log($"cleanup: {ns}: {e.Message}");
            }
        }
        try
        {
            Directory.Delete(TempDirectory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log($"cleanup: {TempDirectory}: {e.Message}");
        }
        Live.TryRemove(this, out _);
    }

    private void Log(string line)
    {
        try
        {
            _output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // the test is over (ProcessExit cleanup): nowhere to write
        }
    }
}
