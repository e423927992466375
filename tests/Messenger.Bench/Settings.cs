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

    /// <summary>Warm-up before a measured count: as many messages as the full-size count, at least 5,000, whatever
    /// the scale. The JIT's tiering needs a second or more of traffic to settle (tier-1 recompiles and on-stack
    /// replacement run on a background thread); a quarter of the count left the faster paths compiling for a
    /// fifth of the measured window, and a --quick run that warmed up less would measure tier-0 code (raw NetMQ at
    /// 64 B then shows a third of its rate).</summary>
    public long Warmup(long count) => Math.Max(5_000, (long)(count / Scale));

    public bool Selected(string name) => Only.Count == 0 || Only.Any(w => name.Contains(w, StringComparison.OrdinalIgnoreCase));
}
