namespace Messenger.Bench;

/// <summary>What one process spent in the measured window of one run.</summary>
internal sealed record Cost(
    string Process,
    long Messages,
    double Seconds,
    double CpuMs,
    int Gen0,
    int Gen1,
    int Gen2,
    double PauseMs,
    double AllocMb,
    long? Frames,
    string Threads,
    long PeakRssMb)
{
    public static Cost From(string process, Fields f, long messages) => new(
        process,
        messages,
        Probe.Seconds(f.Long("end") - f.Long("start")),
        f.Double("cpu_ms"),
        (int)f.Long("gc0"),
        (int)f.Long("gc1"),
        (int)f.Long("gc2"),
        f.Double("pause_ms"),
        f.Double("alloc_mb"),
        f.Has("frames") ? f.Long("frames") : null,
        f.Has("threads") ? f["threads"] : "-",
        f.Has("peak_rss_mb") ? f.Long("peak_rss_mb") : 0);

    public double CpuMicrosPerMessage => Messages == 0 ? 0 : CpuMs * 1000 / Messages;

    public double AllocBytesPerMessage => Messages == 0 ? 0 : AllocMb * 1048576 / Messages;

    /// <summary>Share of one core the process used over the window.</summary>
    public double CoreShare => Seconds <= 0 ? 0 : CpuMs / 1000 / Seconds;
}

/// <summary>The outcome of one run of one measurement.</summary>
internal sealed class Run
{
    public Dictionary<string, double> Values { get; } = new(StringComparer.Ordinal);
    public long Dropped { get; set; }
    public long Lost { get; set; }

    /// <summary>Messages read a second time or out of order, which the engine promises never to deliver.</summary>
    public long Disordered { get; set; }
    public List<Cost> Costs { get; } = [];
    public List<string> Notes { get; } = [];

    /// <summary>Side figures shown on the progress line, not rows (e.g. how long the nodes took to meet).</summary>
    public Dictionary<string, double> Side { get; } = new(StringComparer.Ordinal);

    /// <summary>Percent of the machine that other processes used during the run (see <see cref="MachineLoad"/>).</summary>
    public double? OtherLoad { get; init; }
}

/// <summary>One row of the table and of latest.json.</summary>
internal sealed class Row
{
    public required string Name { get; init; }
    public required int Payload { get; init; }
    public required string Metric { get; init; }
    public required double Value { get; init; }
    public required IReadOnlyList<double> Runs { get; init; }

    /// <summary>Runs attempted; more than <see cref="Runs"/> when some failed.</summary>
    public int RunsWanted { get; init; }
    public long? Dropped { get; init; }
    public double? Baseline { get; set; }
    public double? Ratio { get; set; }
    public string? Target { get; set; }
    public bool? TargetMet { get; set; }
    public string? Note { get; init; }

    public bool LowerIsBetter => Report.IsLatency(Metric);
}
