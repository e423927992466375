using System.Diagnostics;
using System.Globalization;

namespace Messenger.Bench;

/// <summary>What a process has spent so far: the monotonic clock (shared by every process on Linux, so
/// timestamps from different processes compare), CPU time, collections, allocation and GC pauses. The
/// difference of two probes is the cost of the window between them.</summary>
internal readonly record struct Probe(long Ticks, TimeSpan Cpu, int Gen0, int Gen1, int Gen2, long Allocated, TimeSpan Pause, Dictionary<int, (string Name, long Jiffies)> Threads, long JitMethods, TimeSpan JitTime)
{
    private const double MillisecondsPerJiffy = 10; // USER_HZ is 100 on Linux
    public static Probe Take()
    {
        using var self = Process.GetCurrentProcess();
        return new Probe(
            Stopwatch.GetTimestamp(),
            self.TotalProcessorTime,
            GC.CollectionCount(0),
            GC.CollectionCount(1),
            GC.CollectionCount(2),
            GC.GetTotalAllocatedBytes(precise: false),
            GC.GetTotalPauseDuration(),
            ThreadTimes(),
            System.Runtime.JitInfo.GetCompiledMethodCount(),
            System.Runtime.JitInfo.GetCompilationTime());
    }

    /// <summary>CPU time of each thread of this process so far (Linux: /proc/self/task), by thread id.</summary>
    private static Dictionary<int, (string Name, long Jiffies)> ThreadTimes()
    {
        var times = new Dictionary<int, (string, long)>();
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var open = stat.IndexOf('(', StringComparison.Ordinal);
                    var close = stat.LastIndexOf(')');
                    var name = stat[(open + 1)..close];
                    var rest = stat[(close + 2)..].Split(' ');
                    // After "(comm) ": state is field 3 of stat(5); utime and stime are fields 14 and 15.
                    var jiffies = long.Parse(rest[11], CultureInfo.InvariantCulture) + long.Parse(rest[12], CultureInfo.InvariantCulture);
                    times[int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture)] = (name, jiffies);
                }
                catch (IOException)
                {
                    // the thread ended meanwhile
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // not Linux: no per-thread figures
        }
        return times;
    }

    /// <summary>The threads that used the most CPU since <paramref name="start"/>, grouped by name:
    /// "name:ms,name*count:ms" (spaces in names become '_').</summary>
    public string BusiestThreads(Probe start, int top = 4)
    {
        var used = new Dictionary<string, (int Count, long Jiffies)>(StringComparer.Ordinal);
        foreach (var (tid, (name, jiffies)) in Threads)
        {
            var before = start.Threads is not null && start.Threads.TryGetValue(tid, out var s) && s.Name == name ? s.Jiffies : 0;
            var key = Sanitize(name);
            used.TryGetValue(key, out var sum);
            used[key] = (sum.Count + 1, sum.Jiffies + jiffies - before);
        }
        var busiest = used.Where(u => u.Value.Jiffies > 0).OrderByDescending(u => u.Value.Jiffies).Take(top)
            .Select(u => $"{u.Key}{(u.Value.Count > 1 ? "*" + u.Value.Count.ToString(CultureInfo.InvariantCulture) : "")}:{(u.Value.Jiffies * MillisecondsPerJiffy).ToString("0", CultureInfo.InvariantCulture)}")
            .ToList();
        return busiest.Count == 0 ? "-" : string.Join(',', busiest);

        static string Sanitize(string name) => new(name.Select(c => c is ' ' or ',' or ':' or '=' or '*' ? '_' : c).ToArray());
    }

    /// <summary>The window from <paramref name="start"/> to this probe as key=value fields for a status line.</summary>
    public (string Key, object Value)[] Since(Probe start) =>
    [
        ("start", start.Ticks),
        ("end", Ticks),
        ("cpu_ms", Math.Round((Cpu - start.Cpu).TotalMilliseconds, 1)),
        ("gc0", Gen0 - start.Gen0),
        ("gc1", Gen1 - start.Gen1),
        ("gc2", Gen2 - start.Gen2),
        ("alloc_mb", Math.Round((Allocated - start.Allocated) / 1048576.0, 1)),
        ("pause_ms", Math.Round((Pause - start.Pause).TotalMilliseconds, 1)),
        ("threads", BusiestThreads(start)),
        ("jit_methods", JitMethods - start.JitMethods),
        ("jit_ms", Math.Round((JitTime - start.JitTime).TotalMilliseconds, 1)),
        ("peak_rss_mb", PeakRssMb()),
    ];

    public static long PeakRssMb()
    {
        using var self = Process.GetCurrentProcess();
        return self.PeakWorkingSet64 / 1048576;
    }

    public static double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    public static string Format(object value) => value switch
    {
        double d => d.ToString("0.###", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
