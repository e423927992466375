using System.Diagnostics;

namespace Messenger.Stress;

/// <summary>
/// Entry point of the stress suite (build.ps1 -Task Stress). Runs the scenarios one after the other, prints each
/// figure as it is measured and a table at the end, writes latest.json into --output, and exits 1 when a target
/// was missed. With --child it is one of its own child processes (see <see cref="Children"/>).
/// </summary>
internal static class Program
{
    public const string Usage = """
        Messenger.Stress: floods, failure detection and supervisor fault runs at full size (issues 3 and 5).

          --output <dir>      where latest.json goes (default artifacts/stress)
          --only <a,b>        run only these scenarios: flood, failure, supervisor
          --quick             smaller sizes (a try-out, not the measurement)
          --send-loops <n>    acknowledged sends in flight from a to b in the flood (default 128)
          --half-open <n>, --frames <n>, --frame-connections <n>   sizes of the flood (10000, 1000000, 8)
          --no-netns          run the failure scenario on 127.0.0.1 even as root (no link cuts)
        Every node uses a fresh cluster name and key, key pairs made in memory or key files in a temp folder, and
        only 127.0.0.1 or network namespaces this program creates (as root) and deletes.
        Exit code: 0 when every target was met, 1 when one was missed or a scenario failed, 2 on bad arguments.
        """;

    public static async Task<int> Main(string[] argv)
    {
        Args args;
        try
        {
            args = Args.Parse(argv);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }
        if (args.Get("child") is { } role) return await Children.RunAsync(role, args).ConfigureAwait(false);
        if (args.Has("help") || args.Has("h"))
        {
            Console.WriteLine(Usage);
            return 0;
        }

        if (args.Names.FirstOrDefault(n => !KnownOptions.Contains(n)) is { } unknown)
        {
            Console.Error.WriteLine($"unknown option --{unknown}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var output = Path.GetFullPath(args.Get("output") ?? Path.Combine("artifacts", "stress"));
        var settings = args.Has("quick") ? Settings.Quick : new Settings();
        settings = settings with
        {
            SendLoops = args.Int("send-loops", settings.SendLoops),
            HalfOpen = args.Int("half-open", settings.HalfOpen),
            Frames = args.Int("frames", (int)settings.Frames),
            FrameConnections = args.Int("frame-connections", settings.FrameConnections),
            UseNamespaces = !args.Has("no-netns"),
        };
        var only = args.Get("only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);
        bool Wanted(string name) => only is null || only.Contains(name);
        RaiseFileLimit();

        var report = new Report();
        var total = Stopwatch.StartNew();
        Console.WriteLine($"Stress: {Environment.ProcessorCount} cores, {(Lab.IsRoot ? "root" : "not root")}, {(args.Has("quick") ? "quick sizes" : "full sizes")}, output {output}");

        var scenarios = new (string Name, string Title, Func<Task> Run)[]
        {
            ("flood", "1 security flood", () => new FloodScenario(report, settings).RunAsync()),
            ("failure", "2 failure detection", () => new FailureScenario(report, settings).RunAsync()),
            ("supervisor", "3 supervisor", () => new SupervisorScenario(report, settings).RunAsync()),
        };
        if (only?.FirstOrDefault(n => !scenarios.Any(s => s.Name.Equals(n, StringComparison.OrdinalIgnoreCase))) is { } unknownScenario)
        {
            Console.Error.WriteLine($"--only: no scenario '{unknownScenario}'");
            Console.Error.WriteLine(Usage);
            return 2;
        }
        foreach (var (name, title, run) in scenarios)
        {
            if (!Wanted(name)) continue;
            Console.WriteLine();
            Console.WriteLine($"== {title} ({total.Elapsed.TotalSeconds:0} s into the run)");
            var watch = Stopwatch.StartNew();
            try
            {
                await run().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Console.WriteLine($"  {title} failed: {e}");
                report.Error(title, $"{e.GetType().Name}: {FirstLine(e.Message)}");
            }
            finally
            {
                LineProcess.KillAll();
            }
            report.Info(title, "scenario duration", watch.Elapsed.TotalSeconds, "s");
        }

        Console.WriteLine();
        Console.WriteLine($"== Results ({total.Elapsed.TotalSeconds:0} s)");
        report.PrintTable(Console.Out);
        report.Write(output);
        var failed = report.Rows.Where(r => r.Pass == false).ToList();
        Console.WriteLine(failed.Count == 0
            ? "Stress: every target met."
            : $"Stress: {failed.Count} target(s) missed: {string.Join("; ", failed.Select(f => $"{f.Scenario} / {f.Metric}"))}");
        return failed.Count == 0 ? 0 : 1;
    }

    private static readonly string[] KnownOptions = ["output", "only", "quick", "send-loops", "half-open", "frames", "frame-connections", "no-netns", "help", "h"];

    private static string FirstLine(string text)
    {
        var i = text.IndexOf('\n', StringComparison.Ordinal);
        return i < 0 ? text : text[..i];
    }

    /// <summary>Raises the soft limit of open files to the hard one: the flood opens a thousand sockets at a time.</summary>
    private static void RaiseFileLimit()
    {
        try
        {
            Native.RaiseNoFile();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }
}

internal static partial class Native
{
    private const int RlimitNoFile = 7;

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, in RLimit limit);

    public static void RaiseNoFile()
    {
        if (!OperatingSystem.IsLinux()) return;
        if (GetRLimit(RlimitNoFile, out var limit) != 0 || limit.Current >= limit.Max) return;
        limit.Current = limit.Max;
        SetRLimit(RlimitNoFile, limit);
    }
}
