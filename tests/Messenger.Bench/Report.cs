using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Messenger.Bench;

/// <summary>The table on stdout, latest.json and machine.json.</summary>
internal static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Targets (ratio to the raw NetMQ plaintext twin); shown, not enforced. The security issue's apply with
    /// security on, as every Messenger row but the insecure ones runs; the engine issue's to the engine itself.</summary>
    private static readonly (string Name, int? Payload, string Metric, double Ratio, bool AtMost)[] Targets =
    [
        ("messenger-unicast", 64, "msgs_per_s", 3.0, false),
        ("messenger-unicast", 1024, "msgs_per_s", 1.0, false),
        ("messenger-broadcast", 64, "deliveries_per_s", 2.0, false),
        ("messenger-unicast", 64, "rtt_p99_us", 1.5, true),
        ("messenger-unicast-insecure", 64, "msgs_per_s", 3.0, false),
        ("messenger-unicast-insecure", 1024, "msgs_per_s", 1.5, false),
        ("messenger-unicast-insecure", 64, "rtt_p99_us", 1.3, true),
        ("messenger-pwsh-send", null, "msgs_per_s", 0.5, false),
        ("messenger-pwsh-receive", null, "msgs_per_s", 0.5, false),
    ];

    public static string Header(Machine m, Settings s) =>
        $"Messenger benchmark: {m.Cores} cores ({m.Cpu}), {m.Os} ({m.Kernel}), {m.DotNet}, NetMQ {m.NetMq}, Messenger.Core {m.MessengerCore}{Environment.NewLine}"
        + $"loopback 127.0.0.1, each sender and receiver in its own process; {Runs(s.Repeat)} per figure{(s.RoundTripRepeat == s.Repeat ? "" : $" ({Runs(s.RoundTripRepeat)} per round-trip figure)")}{(s.Quick ? " (--quick: smaller counts)" : "")}; load average at start {m.LoadAtStart}";

    private static string Runs(int n) => n == 1 ? "1 run" : $"median of {n} runs";

    /// <summary>Baseline: the raw NetMQ plaintext twin (same payload and metric); for the pwsh rows, DEALER->ROUTER at 64 B.</summary>
    public static void ResolveBaselines(List<Row> rows)
    {
        foreach (var row in rows)
        {
            var (name, payload, metric) = row.Name switch
            {
                "netmq-dealer-router" or "netmq-dealer-router-curve" or "netmq-poller-pool" or "messenger-unicast" or "messenger-unicast-insecure" => ("netmq-dealer-router", row.Payload, row.Metric),
                "netmq-pub-sub" or "messenger-broadcast" => ("netmq-pub-sub", row.Payload, row.Metric),
                "messenger-pwsh-send" or "messenger-pwsh-receive" => ("netmq-dealer-router", 64, "msgs_per_s"),
                _ => (row.Name, row.Payload, row.Metric),
            };
            var twin = rows.FirstOrDefault(r => r.Name == name && r.Payload == payload && r.Metric == metric);
            if (twin is not null && twin.Value > 0)
            {
                row.Baseline = twin.Value;
                row.Ratio = row.Value / twin.Value;
            }
            var target = Targets.FirstOrDefault(t => t.Name == row.Name && (t.Payload is null || t.Payload == row.Payload) && t.Metric == row.Metric);
            if (target.Name is not null)
            {
                row.Target = (target.AtMost ? "<=" : ">=") + target.Ratio.ToString("0.0", Inv) + "x";
                if (row.Ratio is { } r) row.TargetMet = target.AtMost ? r <= target.Ratio : r >= target.Ratio;
            }
        }
    }

    /// <summary>Times (lower is better), as opposed to rates.</summary>
    public static bool IsLatency(string metric) =>
        metric.StartsWith("rtt", StringComparison.Ordinal) || metric.StartsWith("handshake", StringComparison.Ordinal);

    public static string FormatValue(string metric, double value) =>
        IsLatency(metric)
            ? value.ToString("0.0", Inv) + " us"
            : value.ToString("N0", Inv) + "/s";

    public static string Table(List<Row> rows, Machine m, Settings s)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Header(m, s));
        var header = new[] { "name", "payload", "metric", "value", "baseline", "ratio", "target", "runs", "dropped" };
        var lines = rows.Select(r => new[]
        {
            r.Name,
            r.Payload.ToString(Inv),
            r.Metric,
            Number(r.Metric, r.Value),
            r.Baseline is { } b ? Number(r.Metric, b) : "-",
            r.Ratio is { } x ? x.ToString("0.00", Inv) + "x" : "-",
            r.Target is null ? "" : r.Target + (r.TargetMet is { } met ? (met ? " met" : " MISSED") : ""),
            r.RunsWanted > r.Runs.Count ? $"{r.Runs.Count} of {r.RunsWanted}" : r.Runs.Count.ToString(Inv),
            r.Dropped is { } d ? d.ToString("N0", Inv) : "",
        }).ToList();
        var widths = header.Select((h, i) => Math.Max(h.Length, lines.Count == 0 ? 0 : lines.Max(l => l[i].Length))).ToArray();
        var numeric = new[] { false, true, false, true, true, true, false, true, true };
        void Line(string[] cells)
        {
            for (var i = 0; i < cells.Length; i++)
            {
                sb.Append(numeric[i] ? cells[i].PadLeft(widths[i]) : cells[i].PadRight(widths[i]));
                sb.Append(i + 1 < cells.Length ? "  " : "");
            }
            sb.AppendLine();
        }
        Line(header);
        Line(widths.Select(w => new string('-', w)).ToArray());
        foreach (var l in lines) Line(l);
        sb.AppendLine($"load average at the end: {Machine.LoadAverage()}");
        sb.AppendLine("ratio = value / baseline, the raw NetMQ plaintext twin (same payload and metric; PUB/SUB for broadcast; DEALER->ROUTER 64 B for the pwsh rows).");
        sb.AppendLine("For rtt rows lower is better. runs = runs in the median ('2 of 3': one failed, see below). dropped = node drop counter or sequence gaps, over all runs (must be 0).");
        foreach (var note in rows.Where(r => r.Note is not null).Select(r => $"{r.Name}: {r.Note}").Distinct()) sb.AppendLine(note);
        return sb.ToString();
    }

    public static string CostTable(List<(string Measurement, Run Run)> costs)
    {
        var sb = new StringBuilder();
        sb.AppendLine("Where the CPU went (the median run of each measurement; the measured window only, except 'peak RSS'; 'msgs/frame' is Messenger's batching):");
        sb.AppendLine($"  {"measurement",-36} {"process",-38} {"window",7} {"cpu/msg",9} {"cores",5} {"gc0/1/2",11} {"pause",8} {"alloc/msg",9} {"peak RSS",8} {"msgs/frame",10}");
        foreach (var (measurement, run) in costs)
        {
            foreach (var c in run.Costs)
            {
                var perFrame = c.Frames is > 0 ? (c.Messages / (double)c.Frames.Value).ToString("0.0", Inv) : "";
                sb.AppendLine(
                    $"  {measurement,-36} {c.Process,-38} {c.Seconds.ToString("0.00", Inv) + " s",7} {c.CpuMicrosPerMessage.ToString("0.00", Inv) + " us",9} {c.CoreShare.ToString("0.00", Inv),5} "
                    + $"{$"{c.Gen0}/{c.Gen1}/{c.Gen2}",11} {c.PauseMs.ToString("0", Inv) + " ms",8} {c.AllocBytesPerMessage.ToString("0", Inv) + " B",9} {c.PeakRssMb.ToString(Inv) + " MB",8} {perFrame,10}");
                if (c.Threads != "-") sb.AppendLine($"  {"",36} {"  busiest threads (cpu ms): " + c.Threads.Replace(",", ", ", StringComparison.Ordinal)}");
            }
        }
        return sb.ToString();
    }

    public static void Write(string output, List<Row> rows, Machine machine)
    {
        var dir = Path.GetDirectoryName(output)!;
        Directory.CreateDirectory(dir);
        var options = new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var stream = File.Create(output))
        using (var json = new Utf8JsonWriter(stream, options))
        {
            json.WriteStartArray();
            foreach (var r in rows)
            {
                json.WriteStartObject();
                json.WriteString("name", r.Name);
                json.WriteNumber("payload", r.Payload);
                json.WriteString("metric", r.Metric);
                json.WriteNumber("value", Round(r.Metric, r.Value));
                if (r.Baseline is { } b) json.WriteNumber("baseline", Round(r.Metric, b));
                else json.WriteNull("baseline");
                if (r.Ratio is { } x) json.WriteNumber("ratio", Math.Round(x, 3));
                else json.WriteNull("ratio");
                json.WriteStartArray("runs");
                foreach (var v in r.Runs) json.WriteNumberValue(Round(r.Metric, v));
                json.WriteEndArray();
                if (r.Dropped is { } d) json.WriteNumber("dropped", d);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }

        using (var stream = File.Create(Path.Combine(dir, "machine.json")))
        using (var json = new Utf8JsonWriter(stream, options))
        {
            json.WriteStartObject();
            json.WriteNumber("cores", machine.Cores);
            json.WriteString("os", machine.Os);
            json.WriteString("kernel", machine.Kernel);
            json.WriteString("cpu", machine.Cpu);
            json.WriteNumber("memory_gb", machine.MemoryGb);
            json.WriteString("dotnet", machine.DotNet);
            json.WriteString("netmq", machine.NetMq);
            json.WriteString("messenger_core", machine.MessengerCore);
            json.WriteString("gc", machine.Gc);
            json.WriteString("date", machine.Date.ToString("yyyy-MM-ddTHH:mm:ssZ", Inv));
            json.WriteNumber("runs_per_figure", machine.Repeat);
            json.WriteNumber("runs_per_round_trip_figure", machine.RoundTripRepeat);
            json.WriteBoolean("quick", machine.Quick);
            json.WriteString("layout", machine.Layout);
            json.WriteString("load_average_at_start", machine.LoadAtStart);
            json.WriteString("load_average_at_end", Machine.LoadAverage());
            if (machine.OtherLoadMean is { } mean) json.WriteNumber("other_processes_cpu_percent_mean", Math.Round(mean, 1));
            if (machine.OtherLoadMax is { } max) json.WriteNumber("other_processes_cpu_percent_max", Math.Round(max, 1));
            json.WriteEndObject();
        }
    }

    private static string Number(string metric, double value) =>
        IsLatency(metric) ? value.ToString("0.0", Inv) : value.ToString("N0", Inv);

    private static double Round(string metric, double value) =>
        IsLatency(metric) ? Math.Round(value, 1) : Math.Round(value);
}
