using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Messenger.Stress;

/// <summary>A host of the lab: a network namespace and its address on the lab's bridge (eth0 inside).</summary>
internal sealed record LabHost(string Label, string Namespace, string Address)
{
    public const string Link = "eth0";
}

/// <summary>
/// Hosts made of network namespaces joined by a Linux bridge that lives in a namespace of its own, as in the
/// multi-host tests, for cutting a host off (link down). Nothing is created in the root namespace. Names are
/// msgs-&lt;hex&gt;-&lt;label&gt; (the test suite's labs are msgr-..., so neither sweeps the other's); the addresses
/// exist only inside these namespaces. Dispose deletes every namespace (and with them the bridge and veths), also
/// when the process exits on a failure; a later run deletes what a killed run left behind.
/// </summary>
internal sealed partial class Lab : IAsyncDisposable
{
    public const string Subnet = "10.213.91";
    private const string BridgeName = "br0";
    private const string OwnerFile = "owner.pid";

    private readonly List<string> _namespaces = [];
    private string? _bridge;
    private int _disposed;

    private Lab()
    {
        var run = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        Prefix = $"msgs-{run}";
        TempDirectory = Directory.CreateTempSubdirectory($"{Prefix}-").FullName;
        File.WriteAllText(Path.Combine(TempDirectory, OwnerFile), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    public static string? IpCommand { get; } = new[] { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" }.FirstOrDefault(File.Exists);

    public static bool IsRoot => Environment.UserName == "root" || GetEuid() == 0;

    private static uint GetEuid()
    {
        try
        {
            var status = File.ReadAllLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
            var parts = status?.Split('\t', StringSplitOptions.RemoveEmptyEntries);
            return parts is { Length: >= 3 } ? uint.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) : uint.MaxValue;
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return uint.MaxValue;
        }
    }

    public string Prefix { get; }
    public string TempDirectory { get; }

    public static async Task<Lab> CreateAsync()
    {
        await SweepStaleAsync().ConfigureAwait(false);
        return new Lab();
    }

    public async Task<LabHost> AddHostAsync(string label, int index)
    {
        var bridge = await BridgeAsync().ConfigureAwait(false);
        var ns = await AddNamespaceAsync(label).ConfigureAwait(false);
        var address = $"{Subnet}.{index}";
        var outer = $"v-{label}";
        await IpAsync("-n", ns, "link", "set", "lo", "up").ConfigureAwait(false);
        await IpAsync("-n", bridge, "link", "add", outer, "type", "veth", "peer", "name", LabHost.Link, "netns", ns).ConfigureAwait(false);
        await IpAsync("-n", bridge, "link", "set", outer, "master", BridgeName).ConfigureAwait(false);
        await IpAsync("-n", bridge, "link", "set", outer, "up").ConfigureAwait(false);
        await IpAsync("-n", ns, "addr", "add", $"{address}/24", "dev", LabHost.Link).ConfigureAwait(false);
        await IpAsync("-n", ns, "link", "set", LabHost.Link, "up").ConfigureAwait(false);
        return new LabHost(label, ns, address);
    }

    /// <summary>Sets the host's link to the bridge down (cut off) or up (restored), from inside the host.</summary>
    public Task SetLinkAsync(LabHost host, bool up) => IpAsync("-n", host.Namespace, "link", "set", LabHost.Link, up ? "up" : "down");

    private async Task<string> AddNamespaceAsync(string label)
    {
        var ns = $"{Prefix}-{label}";
        lock (_namespaces) _namespaces.Add(ns); // before it exists: a failure half-way still deletes it
        await IpAsync("netns", "add", ns).ConfigureAwait(false);
        return ns;
    }

    private async Task<string> BridgeAsync()
    {
        if (_bridge is not null) return _bridge;
        var ns = await AddNamespaceAsync("br").ConfigureAwait(false);
        await IpAsync("-n", ns, "link", "add", BridgeName, "type", "bridge").ConfigureAwait(false);
        await IpAsync("-n", ns, "link", "set", BridgeName, "up").ConfigureAwait(false);
        _bridge = ns;
        return ns;
    }

    public static async Task IpAsync(params string[] args)
    {
        var (code, _, error) = await RunAsync(IpCommand ?? "ip", args, TimeSpan.FromSeconds(15)).ConfigureAwait(false);
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
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout.TotalSeconds} s");
        }
        return (process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    [GeneratedRegex("^msgs-[0-9a-f]{6}-[a-z0-9]+$")]
    private static partial Regex OurNamespace();

    /// <summary>Deletes namespaces msgs-* of earlier runs whose owner process is gone (a run that was killed).</summary>
    private static async Task SweepStaleAsync()
    {
        if (IpCommand is null) return;
        var (code, list, _) = await RunAsync(IpCommand, ["netns", "list"], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        if (code != 0) return;
        var stale = list.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0])
            .Where(ns => OurNamespace().IsMatch(ns))
            .GroupBy(ns => ns[..11])
            .Where(g => !OwnerAlive(g.Key));
        foreach (var run in stale)
        {
            foreach (var ns in run)
            {
                await KillInsideAsync(ns).ConfigureAwait(false);
                await RunAsync(IpCommand, ["netns", "del", ns], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
            foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), $"{run.Key}-*")) TryDelete(dir);
        }
    }

    private static bool OwnerAlive(string prefix)
    {
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), $"{prefix}-*"))
        {
            var owner = Path.Combine(dir, OwnerFile);
            if (!File.Exists(owner)) return true;
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

    private static async Task KillInsideAsync(string ns)
    {
        var (_, pids, _) = await RunAsync(IpCommand!, ["netns", "pids", ns], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            try
            {
                using var p = Process.GetProcessById(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture));
                p.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or FormatException or OverflowException)
            {
            }
        }
    }

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        List<string> namespaces;
        lock (_namespaces) namespaces = [.. _namespaces];
        namespaces.Reverse(); // hosts first, then the bridge
        foreach (var ns in namespaces)
        {
            try
            {
                await KillInsideAsync(ns).ConfigureAwait(false);
                await RunAsync(IpCommand!, ["netns", "del", ns], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
            {
                Console.Error.WriteLine($"cleanup: {ns}: {e.Message}");
            }
        }
        TryDelete(TempDirectory);
    }
}
