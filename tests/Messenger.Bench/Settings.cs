using System.Globalization;

namespace Messenger.Bench;

/// <summary>The orchestrator's settings, from the command line.</summary>
internal sealed class Settings
{
    private static readonly string[] Known =
        ["output", "module", "pwsh", "repeat", "quick", "scale", "pwsh-count", "timeout", "only", "skip-pwsh", "no-beacon", "receive-capacity", "log-level", "child-env", "verbose", "help", "h"];

    public required string Output { get; init; }
    public string? Module { get; init; }
    public string? Pwsh { get; init; }
    public int Repeat { get; init; }

    /// <summary>Runs of each round-trip measurement: its p99 varies from run to run more than any throughput does,
    /// so a median of 3 is not enough to judge a ratio by (default 5; --repeat, when given, sets it too).</summary>
    public int RoundTripRepeat { get; init; }
    public bool Quick { get; init; }
    public double Scale { get; init; }
    public long PwshCount { get; init; }
    public TimeSpan Timeout { get; init; }
    public IReadOnlyList<string> Only { get; init; } = [];
    public bool SkipPwsh { get; init; }
    public bool NoBeacon { get; init; }
    public bool Verbose { get; init; }
    public int? ReceiveCapacity { get; init; }

    /// <summary>The least level of the nodes' log lines that reach a child's stderr (default Warning).</summary>
    public string? LogLevel { get; init; }

    /// <summary>Environment variables for every benchmark child (diagnosis: e.g. DOTNET_TieredPGO=0, DOTNET_gcServer=1).</summary>
    public IReadOnlyDictionary<string, string> ChildEnvironment { get; init; } = new Dictionary<string, string>();

    public static Settings From(Args args)
    {
        foreach (var key in args.Keys)
        {
            if (!Known.Contains(key)) throw new BenchException($"unknown option --{key}{Environment.NewLine}{Program.Usage}");
        }
        var quick = args.Has("quick");
        var scaleText = args.Get("scale");
        var scale = scaleText is null ? 1.0 : double.Parse(scaleText, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (quick) scale *= 0.1;
        var repeat = quick && !args.Has("repeat") ? 1 : args.Int("repeat", 3);
        if (repeat < 1) throw new BenchException("--repeat must be at least 1");
        if (scale <= 0) throw new BenchException("--scale must be positive");
        return new Settings
        {
            Output = Path.GetFullPath(args.Get("output") ?? Path.Combine("artifacts", "bench", "latest.json")),
            Module = args.Get("module") is { } m ? Path.GetFullPath(m) : null,
            Pwsh = args.Get("pwsh"),
            Repeat = repeat,
            RoundTripRepeat = args.Has("repeat") || quick ? repeat : 5,
            Quick = quick,
            Scale = scale,
            PwshCount = args.Long("pwsh-count", quick ? 200_000 : 1_000_000),
            Timeout = TimeSpan.FromSeconds(args.Long("timeout", 90)),
            Only = args.Get("only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [],
            SkipPwsh = args.Has("skip-pwsh"),
            NoBeacon = args.Has("no-beacon"),
            Verbose = args.Has("verbose"),
            ReceiveCapacity = args.Get("receive-capacity") is null ? null : args.Int("receive-capacity", 0),
            ChildEnvironment = ParseEnvironment(args.Get("child-env")),
            LogLevel = args.Get("log-level") is { } level && Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(level, true, out _) ? level
                : args.Get("log-level") is null ? null : throw new BenchException($"--log-level {args.Get("log-level")} is not one of Trace, Debug, Information, Warning, Error, Critical"),
        };
    }

    private static Dictionary<string, string> ParseEnvironment(string? text)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new BenchException($"--child-env wants NAME=VALUE[,NAME=VALUE], not '{pair}'");
            env[pair[..eq]] = pair[(eq + 1)..];
        }
        return env;
    }

    /// <summary>A message count of the full run, scaled (never below 10,000).</summary>
    public long Count(long full) => Math.Max(10_000, (long)(full * Scale));

    /// <summary>Warm-up before a measured count: three times the full-size count (at least 5,000), whatever the
    /// scale, so that the figures are a long-running node's and not a fresh process's. The JIT goes on recompiling
    /// for seconds after a process starts (tier-1 recompiles with profile data, on-stack replacement, and later the
    /// colder paths as they pass their call counts), on a background thread that takes a core from a 2-core machine:
    /// with one count of warm-up Messenger's 64 B unicast measured 1.4-2.1x raw NetMQ here, with four 2.5-2.8x,
    /// while raw NetMQ's own figure did not move. A --quick run that warmed up less would measure tier-0 code.
    /// <paramref name="factor"/> 1 is for the CURVE yardsticks, whose small code settles at once and whose warm-up
    /// would otherwise take most of the benchmark's time.</summary>
    public long Warmup(long count, int factor = 3) => Math.Max(5_000, (long)(count / Scale)) * factor;

    /// <summary>Round trips before the measured ones: twice the count. With a quarter of it the JIT was still at
    /// work in the measured window, and its thread's turns on the cores showed in every p99 here: raw NetMQ's went
    /// from 184-202 to 142-171 us with the longer warm-up, Messenger's from 474-535 to 357-380 us.</summary>
    public long RoundTripWarmup(long count) => Math.Max(5_000, count * 2);

    public bool Selected(string name) => Only.Count == 0 || Only.Any(w => name.Contains(w, StringComparison.OrdinalIgnoreCase));
}
