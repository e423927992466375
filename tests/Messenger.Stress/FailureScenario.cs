using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Messenger.Stress;

/// <summary>
/// Scenario 2 (issue 5): failure detection with real node processes (Messenger.TestNode) at default settings.
/// a, b and c run on three hosts (network namespaces on a bridge, as root) or on 127.0.0.1 (otherwise).
/// kill -9 c, restart it with the same key file and ports, N times: kill to unreachable and restart to connected on
/// the survivors. As root: cut c's host off (link down), N times: cut to unreachable (both sides), heal to
/// connected. Then a steady run under full CPU load (two busy threads per core in another process): no false alarm.
/// </summary>
internal sealed class FailureScenario(Report report, Settings settings)
{
    private const string S = "2 failure detection";
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Detection = TimeSpan.FromSeconds(12);
    private static readonly TimeSpan Rejoin = TimeSpan.FromSeconds(30);

    private readonly string _cluster = $"stress-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5))}";
    private readonly string _clusterKey = ClusterKey.Generate().ToBase64();
    private string _dll = "";
    private string _temp = "";

    private sealed record Place(string Label, string? Namespace, string Bind, string BeaconInterface);

    public async Task RunAsync()
    {
        var dll = FindTestNode();
        if (dll is null)
        {
            report.Error(S, "Messenger.TestNode.dll not found (build the solution; looked under MESSENGER_ARTIFACTS, beside this program and in <repo>/artifacts)");
            return;
        }
        _dll = dll;
        var namespaces = settings.UseNamespaces && Lab.IsRoot && Lab.IpCommand is not null;
        Console.WriteLine($"  test node: {dll}");
        Console.WriteLine(namespaces
            ? "  three hosts: network namespaces on a bridge (root)"
            : "  every node on 127.0.0.1 in this namespace (not root, or --no-netns); the link-cut trials are skipped");

        Lab? lab = null;
        _temp = Directory.CreateTempSubdirectory("msgs-failure-").FullName;
        try
        {
            Place[] places;
            if (namespaces)
            {
                lab = await Lab.CreateAsync().ConfigureAwait(false);
                var hosts = new LabHost[3];
                for (var i = 0; i < 3; i++) hosts[i] = await lab.AddHostAsync($"h{i + 1}", i + 1).ConfigureAwait(false);
                places = [.. hosts.Select(h => new Place(h.Label, h.Namespace, "*", LabHost.Link))];
            }
            else
            {
                places = [.. Enumerable.Range(1, 3).Select(i => new Place($"h{i}", null, "127.0.0.1", "lo"))];
            }
            var (cPort, cPublish) = namespaces ? (7101, 7102) : (FreePort(), FreePort());
            string[] cPorts = ["--port", $"{cPort}", "--publish-port", $"{cPublish}"];

            var a = await StartNodeAsync(places[0], "a").ConfigureAwait(false);
            var b = await StartNodeAsync(places[1], "b").ConfigureAwait(false);
            var c = await StartNodeAsync(places[2], "c", cPorts).ConfigureAwait(false);
            var nodes = new Dictionary<string, LineProcess> { ["a"] = a, ["b"] = b, ["c"] = c };
            try
            {
                await MeshAsync(nodes.Values).ConfigureAwait(false);
                var cId = c.Events.First(e => e.Kind == "started")["id"];
                Console.WriteLine("  a, b and c connected");

                c = await KillTrialsAsync(a, b, c, places[2], cPorts, cId).ConfigureAwait(false);
                nodes["c"] = c;

                if (namespaces && lab is not null)
                {
                    var host = new LabHost(places[2].Label, places[2].Namespace!, $"{Lab.Subnet}.3");
                    await CutTrialsAsync(lab, host, a, b, c).ConfigureAwait(false);
                }
                else
                {
                    report.Skipped(S + " (link cut)", Lab.IsRoot ? "--no-netns: no network namespaces to cut a host's link" : "needs root: network namespaces to cut a host's link");
                }

                await LoadRunAsync(a, b, c).ConfigureAwait(false);
            }
            finally
            {
                foreach (var n in nodes.Values) await n.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            if (lab is not null) await lab.DisposeAsync().ConfigureAwait(false);
            try
            {
                Directory.Delete(_temp, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    private async Task<LineProcess> StartNodeAsync(Place place, string name, params string[] extra)
    {
        Directory.CreateDirectory(Path.Combine(_temp, "keys"));
        Directory.CreateDirectory(Path.Combine(_temp, "home"));
        var args = new List<string>
        {
            _dll,
            "--name", name,
            "--cluster", _cluster,
            "--cluster-key", _clusterKey,
            "--key-path", Path.Combine(_temp, "keys", $"{name}.key"),
            "--beacon-interface", place.BeaconInterface,
            "--log", "warning",
        };
        if (place.Bind != "*") args.AddRange(["--bind", place.Bind]);
        args.AddRange(extra);
        var node = LineProcess.Start($"{name}@{place.Label}", LineProcess.DotnetHost(), args, place.Namespace,
            new Dictionary<string, string> { ["MESSENGER_HOME"] = Path.Combine(_temp, "home") });
        var started = await node.WaitAsync(e => e.Kind is "started" or "error", Start, "started").ConfigureAwait(false);
        if (started.Kind != "started") throw new InvalidOperationException($"{name} did not start: {started.Line}\n{node.Transcript()}");
        return node;
    }

    private static async Task MeshAsync(IEnumerable<LineProcess> nodes)
    {
        var list = nodes.ToList();
        var names = list.Select(n => n.Name.Split('@')[0]).ToList();
        await Task.WhenAll(list.Select(async (n, i) =>
        {
            var others = names.Where((_, j) => j != i).ToArray();
            var answer = await n.RequestAsync(new { cmd = "wait", peers = others, timeoutMs = 30_000 }, TimeSpan.FromSeconds(35), "wait").ConfigureAwait(false);
            if (answer.Kind != "waited") throw new InvalidOperationException($"{n.Name} does not see {string.Join(", ", others)}: {answer.Line}");
        })).ConfigureAwait(false);
    }

    private async Task<LineProcess> KillTrialsAsync(LineProcess a, LineProcess b, LineProcess c, Place cPlace, string[] cPorts, string? cId)
    {
        var detect = new List<double>();
        var rejoin = new List<double>();
        var rejoinAfterStart = new List<double>();
        var missed = 0;
        var changedId = 0;
        var left = 0;
        for (var trial = 0; trial < settings.KillTrials; trial++)
        {
            var marks = new[] { a.Mark, b.Mark };
            var killedAt = c.Kill();
            await c.WaitForExitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            var survivors = new[] { a, b };
            for (var i = 0; i < 2; i++)
            {
                try
                {
                    var e = await survivors[i].WaitAsync(x => x.Kind == "unreachable" && x.Peer == "c", Detection, "unreachable c", marks[i]).ConfigureAwait(false);
                    detect.Add(e.Ts - killedAt);
                }
                catch (TimeoutException)
                {
                    missed++;
                    detect.Add(Detection.TotalMilliseconds);
                }
            }
            await c.DisposeAsync().ConfigureAwait(false);

            marks = [a.Mark, b.Mark];
            var restartAt = Clock.Now();
            c = await StartNodeAsync(cPlace, "c", cPorts).ConfigureAwait(false);
            var started = c.Events.First(e => e.Kind == "started");
            if (started["id"] != cId) changedId++;
            for (var i = 0; i < 2; i++)
            {
                var e = await survivors[i].WaitAsync(x => x.Kind == "joined" && x.Peer == "c", Rejoin, "joined c", marks[i]).ConfigureAwait(false);
                rejoin.Add(e.Ts - restartAt);
                rejoinAfterStart.Add(e.Ts - started.Ts);
                if (survivors[i].EventsSince(marks[i]).Any(x => x.Kind == "left" && x.Peer == "c")) left++;
            }
            await MeshAsync([a, b, c]).ConfigureAwait(false);
            Console.WriteLine($"  kill {trial + 1}: unreachable after {detect[^2]:0}/{detect[^1]:0} ms, connected again {rejoin[^2]:0}/{rejoin[^1]:0} ms after the restart");
            await Task.Delay(300).ConfigureAwait(false);
        }
        report.Info(S, $"kill -9 trials (c killed, restarted with its key file and ports; a and b observe)", settings.KillTrials, "trials");
        report.Below(S, "kill -9 -> unreachable, median", Median(detect), "ms", 2000);
        report.Below(S, "kill -9 -> unreachable, max", detect.Max(), "ms", 2000);
        report.Exactly(S, "kills not detected within 12 s", missed, "detections", 0);
        report.Info(S, "restart (process launch) -> connected, median", Median(rejoin), "ms");
        report.Info(S, "restart (process launch) -> connected, max", rejoin.Max(), "ms");
        report.Info(S, "restart (node started) -> connected, median", Median(rejoinAfterStart), "ms");
        report.Info(S, "restart (node started) -> connected, max", rejoinAfterStart.Max(), "ms");
        report.Exactly(S, "restarts that came back with another id", changedId, "restarts", 0);
        report.Exactly(S, "survivors that reported the restarted c gone/left in between", left, "events", 0);
        return c;
    }

    private async Task CutTrialsAsync(Lab lab, LabHost host, LineProcess a, LineProcess b, LineProcess c)
    {
        var detect = new List<double>();
        var heal = new List<double>();
        var missed = 0;
        var leftEvents = 0;
        var pairs = new[] { (Node: a, Peer: "c"), (Node: b, Peer: "c"), (Node: c, Peer: "a"), (Node: c, Peer: "b") };
        for (var trial = 0; trial < settings.CutTrials; trial++)
        {
            var marks = pairs.Select(p => p.Node.Mark).ToArray();
            var cutAt = Clock.Now();
            await lab.SetLinkAsync(host, up: false).ConfigureAwait(false);
            var lastDetection = cutAt;
            var trialDetections = new List<double>();
            try
            {
                for (var i = 0; i < pairs.Length; i++)
                {
                    try
                    {
                        var e = await pairs[i].Node.WaitAsync(x => x.Kind == "unreachable" && x.Peer == pairs[i].Peer, Detection, $"unreachable {pairs[i].Peer}", marks[i]).ConfigureAwait(false);
                        detect.Add(e.Ts - cutAt);
                        trialDetections.Add(e.Ts - cutAt);
                        lastDetection = Math.Max(lastDetection, e.Ts);
                    }
                    catch (TimeoutException)
                    {
                        missed++;
                        detect.Add(Detection.TotalMilliseconds);
                    }
                }
            }
            finally
            {
                var healMarks = pairs.Select(p => p.Node.Mark).ToArray();
                var healAt = Clock.Now();
                await lab.SetLinkAsync(host, up: true).ConfigureAwait(false);
                var trialHeal = new List<double>();
                for (var i = 0; i < pairs.Length; i++)
                {
                    var e = await pairs[i].Node.WaitAsync(x => x.Kind == "joined" && x.Peer == pairs[i].Peer, Rejoin, $"joined {pairs[i].Peer}", healMarks[i]).ConfigureAwait(false);
                    heal.Add(e.Ts - healAt);
                    trialHeal.Add(e.Ts - healAt);
                }
                leftEvents += pairs.Select((p, i) => p.Node.EventsSince(marks[i]).Count(x => x.Kind == "left" && x.Peer == p.Peer)).Sum();
                Console.WriteLine($"  cut {trial + 1}: unreachable after {string.Join('/', trialDetections.Select(d => d.ToString("0", System.Globalization.CultureInfo.InvariantCulture)))} ms, connected again {string.Join('/', trialHeal.Select(d => d.ToString("0", System.Globalization.CultureInfo.InvariantCulture)))} ms after the heal (link down {healAt - cutAt:0} ms)");
            }
            await MeshAsync([a, b, c]).ConfigureAwait(false);
            await Task.Delay(300).ConfigureAwait(false);
        }
        report.Info(S, "link-cut trials (c's host link down, then up; 4 directions observed each)", settings.CutTrials, "trials");
        report.Below(S, "link cut -> unreachable, median", Median(detect), "ms", 5000);
        report.Below(S, "link cut -> unreachable, max", detect.Max(), "ms", 5000);
        report.Exactly(S, "cuts not detected within 12 s", missed, "detections", 0);
        report.Info(S, "heal -> connected, median", Median(heal), "ms");
        report.Info(S, "heal -> connected, max", heal.Max(), "ms");
        report.Exactly(S, "peers reported gone/left during a cut (shorter than PeerGoneAfter)", leftEvents, "events", 0);
    }

    private async Task LoadRunAsync(LineProcess a, LineProcess b, LineProcess c)
    {
        var (file, prefix) = LineProcess.Self();
        var seconds = settings.LoadSeconds;
        await using var burner = LineProcess.Start("burner", file, [.. prefix, "--child", "burn", "--threads", $"{Environment.ProcessorCount * 2}", "--seconds", $"{seconds + 15}"]);
        await burner.WaitAsync(e => e.Kind == "burning", Start, "burning").ConfigureAwait(false);
        var nodes = new[] { a, b, c };
        var names = new[] { "a", "b", "c" };
        var marks = nodes.Select(n => n.Mark).ToArray();
        var cpu0 = CpuSample.Read();
        var until = Clock.Now() + seconds * 1000.0;
        var sent = 0;
        // One unicast a second around the ring while the machine is saturated: the nodes must keep working too.
        for (var i = 0; Clock.Now() < until; i++)
        {
            for (var k = 0; k < 3; k++)
            {
                nodes[k].Send(System.Text.Json.JsonSerializer.Serialize(new { cmd = "send", to = names[(k + 1) % 3], text = $"load {i}" }));
                sent++;
            }
            await Task.Delay(1000).ConfigureAwait(false);
        }
        var busy = CpuSample.Read().BusySince(cpu0);
        await burner.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        // Wait (bounded) until the last messages have arrived, checking whenever a node prints something.
        int Received() => nodes.Select((n, i) => n.EventsSince(marks[i]).Count(e => e.Kind == "message" && e["text"]?.StartsWith("load ", StringComparison.Ordinal) == true)).Sum();
        var lastDeadline = Clock.Now() + 10_000;
        while (Received() < sent && Clock.Now() < lastDeadline) await Task.Delay(50).ConfigureAwait(false);
        var alarms = nodes.SelectMany((n, i) => n.EventsSince(marks[i]).Where(e => e.Kind is "unreachable" or "left")).ToList();
        foreach (var e in alarms) Console.WriteLine($"  false alarm: {e.Line}");
        var received = Received();
        report.Info(S, $"steady run under full CPU load ({Environment.ProcessorCount * 2} busy threads in another process)", seconds, "s");
        report.Info(S, "machine CPU busy during the load run", busy, "%");
        report.Exactly(S, "false unreachable/left events under full CPU load", alarms.Count, "events", 0);
        report.Exactly(S, "ring messages under load not delivered", sent - received, "msg", 0);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        if (sorted.Count == 0) return double.NaN;
        var mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Messenger.TestNode.dll: under MESSENGER_ARTIFACTS, beside this program's own output, or in the repository's artifacts.</summary>
    private static string? FindTestNode()
    {
        const string File = "Messenger.TestNode.dll";
        var roots = new List<string>();
        if (Environment.GetEnvironmentVariable("MESSENGER_ARTIFACTS") is { Length: > 0 } artifacts) roots.Add(Path.Combine(artifacts, "bin"));
        // <artifacts>/bin/Messenger.Stress/<config>/ -> <artifacts>/bin
        var own = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        if (own.Parent?.Parent is { } bin) roots.Add(bin.FullName);
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "Messenger.sln"))) roots.Add(Path.Combine(dir.FullName, "artifacts", "bin"));
        }
        foreach (var root in roots)
        {
            foreach (var config in new[] { "release", "debug" })
            {
                var path = Path.Combine(root, "Messenger.TestNode", config, File);
                if (System.IO.File.Exists(path)) return path;
            }
        }
        return null;
    }
}

/// <summary>The machine's busy share of CPU time between two readings of /proc/stat.</summary>
internal readonly record struct CpuSample(long Busy, long Total)
{
    public static CpuSample Read()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").First(l => l.StartsWith("cpu ", StringComparison.Ordinal));
            var v = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(x => long.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            var idle = v[3] + v[4];
            return new CpuSample(v.Sum() - idle, v.Sum());
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or FormatException or UnauthorizedAccessException)
        {
            return default;
        }
    }

    public double BusySince(CpuSample earlier) => Total > earlier.Total ? 100.0 * (Busy - earlier.Busy) / (Total - earlier.Total) : double.NaN;
}

/// <summary>How much of the machine other processes used while a phase ran: the machine's busy time (/proc/stat,
/// 1/100 s) minus this process's and the named children's. On a shared 2-core machine that is the first thing to
/// know about a rate.</summary>
internal readonly record struct MachineShare(CpuSample Machine, double OwnMs, double ChildMs)
{
    public static MachineShare Take(double childMs) =>
        new(CpuSample.Read(), System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds, childMs);

    /// <summary>Percent of the machine's capacity (all cores) used by other processes since <paramref name="earlier"/>.</summary>
    public double OthersPercentSince(MachineShare earlier)
    {
        var total = Machine.Total - earlier.Machine.Total;
        if (total <= 0) return double.NaN;
        var busyMs = (Machine.Busy - earlier.Machine.Busy) * 10.0;
        var oursMs = OwnMs - earlier.OwnMs + ChildMs - earlier.ChildMs;
        return Math.Clamp(100.0 * (busyMs - oursMs) / (total * 10.0), 0, 100);
    }
}
