using System.Diagnostics;
using System.Globalization;
using NetMQ;

namespace Messenger.Bench;

/// <summary>
/// Runs every measurement (each run in fresh child processes), takes the median of the runs, relates each
/// figure to its raw NetMQ plaintext twin, and reports. Coordination is by status lines only: nothing sleeps.
/// </summary>
internal sealed partial class Orchestrator
{
    public const int Subscribers = 4;
    private const int Small = 64;
    private const int Large = 1024;

    private readonly Settings _settings;
    private readonly List<Row> _rows = [];
    private readonly List<(string Measurement, Run Run)> _costs = [];
    private readonly List<string> _failures = [];
    private readonly List<string> _skipped = [];
    private readonly List<double> _otherLoad = [];
    private int _clusters;

    private Orchestrator(Settings settings)
    {
        _settings = settings;
        _home = Directory.CreateTempSubdirectory("messenger-bench-home-").FullName;
        ClusterKey.Generate().Save(Path.Combine(_home, "cluster.key"));
        // pwsh children must not phone home (update check, telemetry) inside a measured window; --child-env can
        // still set these differently.
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["POWERSHELL_UPDATECHECK"] = "Off",
            ["POWERSHELL_TELEMETRY_OPTOUT"] = "1",
        };
        foreach (var (key, value) in settings.ChildEnvironment) environment[key] = value;
        environment["MESSENGER_HOME"] = _home;
        ChildEnvironment = environment;
    }

    public static async Task<int> RunAsync(Args args)
    {
        Settings settings;
        try
        {
            settings = Settings.From(args);
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }

        var machine = Machine.Describe(settings);
        Console.WriteLine(Report.Header(machine, settings));
        Console.WriteLine();
        var clock = Stopwatch.StartNew();
        var orchestrator = new Orchestrator(settings);
        try
        {
            await orchestrator.RunAllAsync().ConfigureAwait(false);
        }
        finally
        {
            Directory.Delete(orchestrator._home, recursive: true);
        }
        return orchestrator.Finish(machine, clock.Elapsed);
    }

    /// <summary>
    /// What every child gets in its environment: the --child-env pairs, and MESSENGER_HOME pointing at a folder of
    /// this run, where one cluster key is written before any node starts. So the nodes share a key without racing
    /// to create it, and their identity key files go there, not under the user's ~/.messenger.
    /// </summary>
    private IReadOnlyDictionary<string, string> ChildEnvironment { get; }

    private readonly string _home;

    private async Task RunAllAsync()
    {
        var s = _settings;
        long uni64 = s.Count(2_000_000), uni1k = s.Count(500_000);
        long curve64 = s.Count(500_000), curve1k = s.Count(200_000);
        long pub64 = s.Count(500_000), pub1k = s.Count(200_000);
        var rtt = (int)s.Count(20_000);
        var handshakes = (int)Math.Clamp(100 * s.Scale, 20, 100);

        // Twins run in turn within each repetition (raw, then Messenger, then raw again ...), so that a change in
        // the machine's load during the benchmark falls on both sides of a ratio alike.
        await MeasureGroupAsync(
            "DEALER->ROUTER and Messenger unicast, 64 B",
            new("netmq-dealer-router", Small, null, ct => NetMqThroughputAsync(Small, uni64, curve: false, ct)),
            new("netmq-dealer-router-curve", Small, null, ct => NetMqThroughputAsync(Small, curve64, curve: true, ct)),
            new("messenger-unicast", Small, null, ct => MessengerUnicastAsync(Small, uni64, insecure: false, ct)),
            new("messenger-unicast-insecure", Small, null, ct => MessengerUnicastAsync(Small, uni64, insecure: true, ct), InsecureNote)).ConfigureAwait(false);
        await MeasureGroupAsync(
            "DEALER->ROUTER and Messenger unicast, 1 KiB",
            new("netmq-dealer-router", Large, null, ct => NetMqThroughputAsync(Large, uni1k, curve: false, ct)),
            new("netmq-dealer-router-curve", Large, null, ct => NetMqThroughputAsync(Large, curve1k, curve: true, ct)),
            new("messenger-unicast", Large, null, ct => MessengerUnicastAsync(Large, uni1k, insecure: false, ct)),
            new("messenger-unicast-insecure", Large, null, ct => MessengerUnicastAsync(Large, uni1k, insecure: true, ct), InsecureNote)).ConfigureAwait(false);
        await MeasureRepeatedAsync(
            "Round trip, one message in flight, 64 B",
            s.RoundTripRepeat,
            new("netmq-dealer-router", Small, "rtt", ct => NetMqRoundTripAsync(Small, rtt, curve: false, ct)),
            new("netmq-dealer-router-curve", Small, "rtt", ct => NetMqRoundTripAsync(Small, rtt, curve: true, ct)),
            new("netmq-poller-pool", Small, "rtt", ct => NetMqPollerRoundTripAsync(Small, rtt, ct), PollerPoolNote),
            new("messenger-unicast", Small, "rtt", ct => MessengerRoundTripAsync(Small, rtt, insecure: false, ct)),
            new("messenger-unicast-insecure", Small, "rtt", ct => MessengerRoundTripAsync(Small, rtt, insecure: true, ct), InsecureNote)).ConfigureAwait(false);
        await MeasureGroupAsync(
            "Handshake: a new connection until its first round trip (raw NetMQ) or until the peer is connected (Messenger)",
            new("netmq-dealer-router", 0, "handshake", ct => NetMqHandshakeAsync(handshakes, curve: false, ct)),
            new("netmq-dealer-router-curve", 0, "handshake", ct => NetMqHandshakeAsync(handshakes, curve: true, ct)),
            new("messenger-unicast", 0, "handshake", ct => MessengerHandshakeAsync(handshakes, ct))).ConfigureAwait(false);
        await MeasureGroupAsync(
            $"PUB->{Subscribers} SUB and Messenger broadcast to {Subscribers} nodes, 64 B",
            new("netmq-pub-sub", Small, null, ct => NetMqPubSubAsync(Small, pub64, ct)),
            new("messenger-broadcast", Small, null, ct => MessengerBroadcastAsync(Small, pub64, ct))).ConfigureAwait(false);
        await MeasureGroupAsync(
            $"PUB->{Subscribers} SUB and Messenger broadcast to {Subscribers} nodes, 1 KiB",
            new("netmq-pub-sub", Large, null, ct => NetMqPubSubAsync(Large, pub1k, ct)),
            new("messenger-broadcast", Large, null, ct => MessengerBroadcastAsync(Large, pub1k, ct))).ConfigureAwait(false);

        await RunPwshAsync().ConfigureAwait(false);
    }

    private const string PollerPoolNote = "Raw NetMQ laid out as an asynchronous API over it is (and as a node is): each side receives in a NetMQPoller and hands the message to a reader on the thread pool, which answers on a DEALER of its own";

    // The engine issue's targets are for the engine itself; the security issue's, with security on (the default).
    private const string InsecureNote = "Insecure nodes (plaintext protocol 1): the engine without the cipher";

    /// <summary>One figure to measure: each run starts fresh child processes.</summary>
    private sealed record Measurement(string Name, int Payload, string? Kind, Func<CancellationToken, Task<Run>> Once, string? Note = null)
    {
        public string Label => $"{Name} {Payload} B{(Kind is null ? "" : " " + Kind)}";

        public List<Run> Runs { get; } = [];

        public int Failures { get; set; }
    }

    private Task MeasureGroupAsync(string title, params Measurement[] group) => MeasureRepeatedAsync(title, _settings.Repeat, group);

    /// <summary>Runs each measurement of the group <paramref name="repeats"/> times, in turn, each run bounded by the
    /// timeout, and keeps the median of every figure. A failed run is reported and ends that measurement; the
    /// others go on.</summary>
    private async Task MeasureRepeatedAsync(string title, int repeats, params Measurement[] group)
    {
        var selected = group.Where(m => _settings.Selected(m.Label)).ToList();
        if (selected.Count == 0) return;
        Console.WriteLine(title);
        for (var i = 0; i < repeats; i++)
        {
            // A measurement that failed twice is given up; one failure may be chance, and its other runs still count.
            foreach (var m in selected.Where(m => m.Failures < 2))
            {
                Console.Write($"  [{i + 1}/{repeats}] {m.Label,-38}");
                using var timeout = new CancellationTokenSource(_settings.Timeout + JitSettle.MaxTotal);
                try
                {
                    var run = await m.Once(timeout.Token).ConfigureAwait(false);
                    m.Runs.Add(run);
                    var sides = run.Side.Select(v => $"{v.Key} {v.Value.ToString("0", CultureInfo.InvariantCulture)}").ToList();
                    if (run.OtherLoad is { } other)
                    {
                        sides.Add($"other processes {other.ToString("0", CultureInfo.InvariantCulture)}% of the machine");
                        _otherLoad.Add(other);
                    }
                    var side = sides.Count == 0 ? "" : "  (" + string.Join(", ", sides) + ")";
                    Console.WriteLine(" " + string.Join("  ", run.Values.Select(v => Report.FormatValue(v.Key, v.Value))) + side);
                    foreach (var n in run.Notes) Console.WriteLine($"      {n}");
                }
                catch (Exception e)
                {
                    m.Failures++;
                    Console.WriteLine(" FAILED");
                    Console.WriteLine($"    {e.Message}");
                    _failures.Add($"{m.Label}, run {i + 1}: {FirstLine(e.Message)}");
                }
            }
        }
        foreach (var m in selected) Aggregate(m);
    }

    private void Aggregate(Measurement m)
    {
        var runs = m.Runs;
        if (runs.Count == 0) return;
        var dropped = runs.Sum(r => r.Dropped);
        var lost = runs.Sum(r => r.Lost);
        var disordered = runs.Sum(r => r.Disordered);
        var isMessenger = m.Name.StartsWith("messenger", StringComparison.Ordinal);
        if (dropped > 0 || lost > 0 || disordered > 0)
        {
            var message = $"{m.Label}: {dropped} messages dropped (node Statistics.MessagesDropped), {lost} lost (gaps in sequence numbers) and {disordered} read twice or out of order over {runs.Count} run(s); a throughput that drops is not a throughput";
            Console.WriteLine($"  FAILED: {message}");
            _failures.Add(message);
        }

        foreach (var metric in runs[0].Values.Keys)
        {
            var values = runs.Select(r => r.Values[metric]).ToList();
            _rows.Add(new Row
            {
                Name = m.Name,
                Payload = m.Payload,
                Metric = metric,
                Value = Median(values),
                Runs = values,
                RunsWanted = m.Runs.Count + m.Failures,
                Dropped = isMessenger ? runs.Sum(r => Math.Max(r.Dropped, r.Lost)) : null,
                Note = m.Note,
            });
        }
        // The run whose first figure is the median one stands for the measurement in the cost table.
        var first = runs[0].Values.Keys.First();
        var median = Median(runs.Select(r => r.Values[first]).ToList());
        _costs.Add((m.Label, runs.OrderBy(r => Math.Abs(r.Values[first] - median)).First()));
    }

    private int Finish(Machine machine, TimeSpan elapsed)
    {
        Report.ResolveBaselines(_rows);
        Console.WriteLine();
        Console.WriteLine(Report.Table(_rows, machine, _settings));
        if (_otherLoad.Count > 0)
        {
            machine = machine with { OtherLoadMean = _otherLoad.Average(), OtherLoadMax = _otherLoad.Max() };
            Console.WriteLine($"Other processes used {machine.OtherLoadMean:0}% of the machine on average during the runs (at most {machine.OtherLoadMax:0}% in one run)"
                + (machine.OtherLoadMax > 10 ? "; figures from a busy machine are low and noisy (each run's share is on its progress line)." : "."));
            Console.WriteLine();
        }
        Console.WriteLine(Report.CostTable(_costs));
        foreach (var s in _skipped) Console.WriteLine($"Skipped: {s}");
        if (_rows.Count == 0)
        {
            // Nothing measured (an --only that matches no row): a file of no rows would pass for a run.
            _failures.Add(_settings.Only.Count > 0 ? $"--only {string.Join(",", _settings.Only)} matches no measurement" : "no measurement gave a figure");
        }
        else try
        {
            Report.Write(_settings.Output, _rows, machine);
            Console.WriteLine($"Wrote {_settings.Output} and {Path.Combine(Path.GetDirectoryName(_settings.Output)!, "machine.json")} ({elapsed.TotalSeconds:0} s in all)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _failures.Add($"cannot write {_settings.Output}: {e.Message}");
        }
        if (_failures.Count == 0) return 0;
        Console.WriteLine();
        Console.WriteLine($"BENCHMARK FAILED ({_failures.Count}):");
        foreach (var f in _failures) Console.WriteLine($"  - {f}");
        return 1;
    }

    // ---- raw NetMQ ----

    private async Task<Run> NetMqThroughputAsync(int size, long count, bool curve, CancellationToken ct)
    {
        var warmup = _settings.Warmup(count, factor: curve ? 1 : 3);
        var (secret, server) = CurveKeys(curve);
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var receiver = g.Self("receiver", "netmq-recv", [.. Common(size, warmup, count), .. Opt("--curve-secret", secret)]);
        var ready = await g.ExpectAsync(receiver, "ready", ct).ConfigureAwait(false);
        var sender = g.Self("sender", "netmq-send", ["--endpoint", ready["endpoint"], "--size", Str(size), .. Opt("--curve-server", server)]);
        await g.ExpectAsync(sender, "ready", ct).ConfigureAwait(false);
        var settling = await WarmUpAndSettleAsync(g, sender, [receiver], warmup, ct).ConfigureAwait(false);
        sender.Send($"send {count + 1}");
        var done = await g.ExpectAsync(receiver, "done", ct).ConfigureAwait(false);
        var sent = await g.ExpectAsync(sender, "sent", ct).ConfigureAwait(false);
        var run = new Run { OtherLoad = g.OtherLoadPercent() };
        run.Notes.AddRange(settling);
        run.Values["msgs_per_s"] = count / Seconds(done);
        run.Costs.Add(Cost.From("sender", sent, count + 1));
        run.Costs.Add(Cost.From("receiver", done, count));
        return run;
    }

    private async Task<Run> NetMqRoundTripAsync(int size, int count, bool curve, CancellationToken ct)
    {
        var (secret, server) = CurveKeys(curve);
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var echo = g.Self("echo", "netmq-echo", [.. Opt("--curve-secret", secret)]);
        var ready = await g.ExpectAsync(echo, "ready", ct).ConfigureAwait(false);
        var client = g.Self("client", "netmq-rtt", ["--endpoint", ready["endpoint"], .. Common(size, _settings.RoundTripWarmup(count), count), .. Opt("--curve-server", server)]);
        await g.ExpectAsync(client, "ready", ct).ConfigureAwait(false);
        client.Send("run");
        var done = await g.ExpectAsync(client, "done", ct).ConfigureAwait(false);
        return LatencyRun(g, "rtt", "client", done, count);
    }

    private async Task<Run> NetMqPollerRoundTripAsync(int size, int count, CancellationToken ct)
    {
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var echo = g.Self("echo", "netmq-poller-echo", []);
        var echoReady = await g.ExpectAsync(echo, "ready", ct).ConfigureAwait(false);
        var client = g.Self("client", "netmq-poller-rtt", ["--endpoint", echoReady["endpoint"], .. Common(size, _settings.RoundTripWarmup(count), count)]);
        var clientReady = await g.ExpectAsync(client, "ready", ct).ConfigureAwait(false);
        echo.Send($"connect {clientReady["endpoint"]}");
        client.Send("run");
        var done = await g.ExpectAsync(client, "done", ct).ConfigureAwait(false);
        return LatencyRun(g, "rtt", "client", done, count);
    }

    /// <summary>A latency measurement's run: the p50 and p99 that <paramref name="process"/> reported in
    /// <paramref name="done"/>, as <paramref name="metric"/>_p50_us and _p99_us, and that process's costs.</summary>
    private static Run LatencyRun(ChildGroup g, string metric, string process, Fields done, int count)
    {
        var run = new Run { OtherLoad = g.OtherLoadPercent() };
        run.Values[$"{metric}_p50_us"] = done.Double("p50_us");
        run.Values[$"{metric}_p99_us"] = done.Double("p99_us");
        run.Costs.Add(Cost.From(process, done, count));
        return run;
    }

    private async Task<Run> NetMqHandshakeAsync(int count, bool curve, CancellationToken ct)
    {
        var (secret, server) = CurveKeys(curve);
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var echo = g.Self("echo", "netmq-echo", [.. Opt("--curve-secret", secret)]);
        var ready = await g.ExpectAsync(echo, "ready", ct).ConfigureAwait(false);
        var client = g.Self("client", "netmq-handshake", ["--endpoint", ready["endpoint"], "--warmup", Str(Math.Max(5, count / 10)), "--count", Str(count), "--timeout", Str(TimeoutSeconds), .. Opt("--curve-server", server)]);
        await g.ExpectAsync(client, "ready", ct).ConfigureAwait(false);
        client.Send("run");
        var done = await g.ExpectAsync(client, "done", ct).ConfigureAwait(false);
        return LatencyRun(g, "handshake", "client", done, count);
    }

    private async Task<Run> NetMqPubSubAsync(int size, long count, CancellationToken ct)
    {
        var warmup = _settings.Warmup(count);
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var publisher = g.Self("publisher", "netmq-pub", ["--size", Str(size), "--subscribers", Str(Subscribers), "--timeout", Str(TimeoutSeconds)]);
        var ready = await g.ExpectAsync(publisher, "ready", ct).ConfigureAwait(false);
        var subscribers = Enumerable.Range(1, Subscribers)
            .Select(i => g.Self($"subscriber {i}", "netmq-sub", ["--endpoint", ready["endpoint"], .. Common(size, warmup, count)]))
            .ToList();
        foreach (var s in subscribers) await g.ExpectAsync(s, "ready", ct).ConfigureAwait(false);
        await g.ExpectAsync(publisher, "subscribed", ct).ConfigureAwait(false);
        var settling = await WarmUpAndSettleAsync(g, publisher, subscribers, warmup, ct).ConfigureAwait(false);
        publisher.Send($"send {count + 1}");
        var done = new List<Fields>();
        foreach (var s in subscribers) done.Add(await g.ExpectAsync(s, "done", ct).ConfigureAwait(false));
        var sent = await g.ExpectAsync(publisher, "sent", ct).ConfigureAwait(false);
        var run = new Run { OtherLoad = g.OtherLoadPercent() };
        run.Notes.AddRange(settling);
        run.Values["deliveries_per_s"] = Subscribers * count / Span(done);
        run.Costs.Add(Cost.From("publisher", sent, count + 1));
        run.Costs.Add(Cost.From("subscriber 1", done[0], count));
        return run;
    }

    // ---- Messenger ----

    private async Task<Run> MessengerUnicastAsync(int size, long count, bool insecure, CancellationToken ct)
    {
        var warmup = _settings.Warmup(count);
        var cluster = NewCluster();
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var receiver = g.Self("node b (receiver)", "messenger-recv", [.. Node("b", cluster, null, insecure), .. Common(size, warmup, count), "--kind", "unicast"]);
        var ready = await g.ExpectAsync(receiver, "ready", ct).ConfigureAwait(false);
        var sender = g.Self("node a (sender)", "messenger-send", [.. Node("a", cluster, ready["endpoint"], insecure), "--to", "b", "--size", Str(size), "--timeout", Str(TimeoutSeconds)]);
        var met = await g.ExpectAsync(sender, "ready", ct).ConfigureAwait(false);
        var settling = await WarmUpAndSettleAsync(g, sender, [receiver], warmup, ct).ConfigureAwait(false);
        sender.Send($"send {count + 1}");
        var done = await g.ExpectAsync(receiver, "done", ct).ConfigureAwait(false);
        var sent = await g.ExpectAsync(sender, "sent", ct).ConfigureAwait(false);
        var run = new Run { OtherLoad = g.OtherLoadPercent() };
        run.Notes.AddRange(settling);
        run.Values["msgs_per_s"] = count / Seconds(done);
        run.Dropped = done.Long("dropped") + sent.Long("dropped");
        run.Lost = done.Long("lost");
        run.Disordered = done.Long("disordered");
        run.Side["connect_ms"] = met.Double("connect_ms");
        run.Costs.Add(Cost.From("node a (sender)", sent, count + 1));
        run.Costs.Add(Cost.From("node b (receiver)", done, count));
        return run;
    }

    private async Task<Run> MessengerRoundTripAsync(int size, int count, bool insecure, CancellationToken ct)
    {
        var cluster = NewCluster();
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var echo = g.Self("node b (echo)", "messenger-echo", [.. Node("b", cluster, null, insecure)]);
        var ready = await g.ExpectAsync(echo, "ready", ct).ConfigureAwait(false);
        var client = g.Self("node a (client)", "messenger-rtt", [.. Node("a", cluster, ready["endpoint"], insecure), "--to", "b", .. Common(size, _settings.RoundTripWarmup(count), count)]);
        await g.ExpectAsync(client, "ready", ct).ConfigureAwait(false);
        client.Send("run");
        var done = await g.ExpectAsync(client, "done", ct).ConfigureAwait(false);
        echo.Send("stop");
        var final = await g.ExpectAsync(echo, "final", ct).ConfigureAwait(false);
        var run = LatencyRun(g, "rtt", "node a (client)", done, count);
        run.Dropped = done.Long("dropped") + final.Long("dropped");
        return run;
    }

    private async Task<Run> MessengerHandshakeAsync(int count, CancellationToken ct)
    {
        var cluster = NewCluster();
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var echo = g.Self("node b (joined)", "messenger-echo", [.. Node("b", cluster, null)]);
        var ready = await g.ExpectAsync(echo, "ready", ct).ConfigureAwait(false);
        var client = g.Self("node h (joining)", "messenger-handshake", [.. Node("h", cluster, ready["endpoint"]), "--warmup", Str(Math.Max(5, count / 10)), "--count", Str(count), "--timeout", Str(TimeoutSeconds)]);
        await g.ExpectAsync(client, "ready", ct).ConfigureAwait(false);
        client.Send("run");
        var done = await g.ExpectAsync(client, "done", ct).ConfigureAwait(false);
        echo.Send("stop");
        await g.ExpectAsync(echo, "final", ct).ConfigureAwait(false);
        return LatencyRun(g, "handshake", "node h (joining)", done, count);
    }

    private async Task<Run> MessengerBroadcastAsync(int size, long count, CancellationToken ct)
    {
        var warmup = _settings.Warmup(count);
        var cluster = NewCluster();
        var names = Enumerable.Range(1, Subscribers).Select(i => $"r{i}").ToList();
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var publisher = g.Self("node p (broadcaster)", "messenger-send", [.. Node("p", cluster, null), "--peers", string.Join(',', names), "--size", Str(size), "--timeout", Str(TimeoutSeconds)]);
        var started = await g.ExpectAsync(publisher, "started", ct).ConfigureAwait(false);
        var receivers = names
            .Select(n => g.Self($"node {n} (receiver)", "messenger-recv", [.. Node(n, cluster, started["endpoint"]), .. Common(size, warmup, count), "--kind", "broadcast"]))
            .ToList();
        foreach (var r in receivers) await g.ExpectAsync(r, "ready", ct).ConfigureAwait(false);
        var met = await g.ExpectAsync(publisher, "ready", ct).ConfigureAwait(false);
        var settling = await WarmUpAndSettleAsync(g, publisher, receivers, warmup, ct).ConfigureAwait(false);
        publisher.Send($"send {count + 1}");
        var done = new List<Fields>();
        foreach (var r in receivers) done.Add(await g.ExpectAsync(r, "done", ct).ConfigureAwait(false));
        var sent = await g.ExpectAsync(publisher, "sent", ct).ConfigureAwait(false);
        var run = new Run { OtherLoad = g.OtherLoadPercent() };
        run.Notes.AddRange(settling);
        run.Values["deliveries_per_s"] = Subscribers * count / Span(done);
        run.Dropped = done.Sum(d => d.Long("dropped")) + sent.Long("dropped");
        run.Lost = done.Sum(d => d.Long("lost"));
        run.Disordered = done.Sum(d => d.Long("disordered"));
        run.Side["connect_ms"] = met.Double("connect_ms");
        run.Costs.Add(Cost.From("node p (broadcaster)", sent, count + 1));
        run.Costs.Add(Cost.From("node r1 (receiver)", done[0], count));
        return run;
    }

    // ---- helpers ----

    /// <summary>The warm-up bursts, after each of which every process waits until its JIT has gone quiet (see
    /// <see cref="JitSettle"/>): the sender on "settle", each receiver by itself once the burst is in. The measured burst (count + 1: the
    /// window runs from the first measured message to the last) is the caller's.</summary>
    private static async Task<List<string>> WarmUpAndSettleAsync(ChildGroup g, Child sender, IReadOnlyList<Child> receivers, long warmup, CancellationToken ct)
    {
        var notes = new List<string>();
        for (var round = 1; round <= JitSettle.Rounds; round++)
        {
            sender.Send($"send {JitSettle.RoundEnd(warmup, round) - JitSettle.RoundEnd(warmup, round - 1)}");
            await g.ExpectAsync(sender, "sent", ct).ConfigureAwait(false);
            sender.Send("settle");
            Note(sender, await g.ExpectAsync(sender, "settled", ct).ConfigureAwait(false));
            foreach (var r in receivers) Note(r, await g.ExpectAsync(r, "warmed", ct).ConfigureAwait(false));

            void Note(Child child, Fields settled)
            {
                if (settled.Long("jit_quiet") == 0) notes.Add($"{child.Label}: its JIT was still compiling after {settled["settle_ms"]} ms of warm-up round {round}'s settling");
            }
        }
        return notes;
    }

    /// <summary>The children's own limit: shorter than the run's, so that a child that gives up says why (what it
    /// received, what its node counted) before the orchestrator gives up on it. Both leave room for the settling.</summary>
    private long TimeoutSeconds => Math.Max(1, (long)(_settings.Timeout.TotalSeconds * 0.8 + JitSettle.MaxTotal.TotalSeconds));

    private string[] Common(int size, long warmup, long count) =>
        ["--size", Str(size), "--warmup", Str(warmup), "--count", Str(count), "--timeout", Str(TimeoutSeconds)];

    private string[] Node(string name, string cluster, string? seed, bool insecure = false) =>
        ["--name", name, "--cluster", cluster, .. Opt("--seed", seed), .. (_settings.NoBeacon ? new[] { "--no-beacon" } : []), .. (insecure ? new[] { "--insecure" } : []),
            .. Opt("--receive-capacity", _settings.ReceiveCapacity?.ToString(CultureInfo.InvariantCulture)), .. Opt("--log-level", _settings.LogLevel)];

    private static string[] Opt(string key, string? value) => value is null ? [] : [key, value];

    private static (string? Secret, string? Public) CurveKeys(bool curve)
    {
        if (!curve) return (null, null);
        var server = new NetMQCertificate();
        return (Convert.ToHexString(server.SecretKey!), Convert.ToHexString(server.PublicKey));
    }

    /// <summary>A cluster name no other run (or other session on this host) uses, so beacons never mix.</summary>
    private string NewCluster() => $"bench-{Environment.ProcessId}-{++_clusters}";

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static double Seconds(Fields f) => Probe.Seconds(f.Long("end") - f.Long("start"));

    /// <summary>From the first receiver's start to the last one's end: the monotonic clock is shared by processes.</summary>
    private static double Span(List<Fields> done) => Probe.Seconds(done.Max(d => d.Long("end")) - done.Min(d => d.Long("start")));

    public static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static string FirstLine(string text)
    {
        var nl = text.IndexOfAny(['\r', '\n']);
        return nl < 0 ? text : text[..nl];
    }
}

/// <summary>The children of one run: all stopped together (in parallel) when the run ends, however it ends.</summary>
internal sealed class ChildGroup(Settings settings, IReadOnlyDictionary<string, string> environment) : IAsyncDisposable
{
    private readonly List<Child> _children = [];
    private readonly MachineLoad _load = MachineLoad.Start();

    /// <summary>Percent of the machine other processes used since the group began (call while the children live).</summary>
    public double? OtherLoadPercent() => _load.OtherPercent(_children.Sum(c => MachineLoad.ProcessJiffies(c.Id)));

    private readonly CancellationTokenSource _failed = new();
    private string? _firstError;

    public Child Self(string label, string role, string[] args) =>
        Add(Child.StartSelf(label, settings.Verbose, environment, ["--role", role, .. args]));

    public Child Add(Child child)
    {
        _children.Add(child);
        child.Failed += (_, message) =>
        {
            if (Interlocked.CompareExchange(ref _firstError, message, null) is null) _failed.Cancel();
        };
        return child;
    }

    /// <summary>Waits for a status line of one child; any child of the run that reports @error ends the wait with
    /// that child's error (the one that explains the failure, not a receiver that waited in vain).</summary>
    public async Task<Fields> ExpectAsync(Child child, string tag, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _failed.Token);
        try
        {
            return await child.ExpectAsync(tag, linked.Token).ConfigureAwait(false);
        }
        catch (BenchException) when (Volatile.Read(ref _firstError) is { } first)
        {
            throw new BenchException(first);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_children.Select(c => c.DisposeAsync().AsTask())).ConfigureAwait(false);
        _failed.Dispose();
    }
}
