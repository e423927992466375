using System.Diagnostics;
using System.Globalization;

namespace Messenger.Bench;

/// <summary>
/// How much of the machine other processes used while a run went on: the machine's busy CPU time (/proc/stat)
/// minus what this benchmark's own processes used. On a shared 2-core machine that is the first thing to know
/// about a figure.
/// </summary>
internal sealed class MachineLoad
{
    private readonly (long Busy, long Total) _machine;
    private readonly TimeSpan _self;

    private MachineLoad((long, long) machine, TimeSpan self)
    {
        _machine = machine;
        _self = self;
    }

    public static MachineLoad Start()
    {
        using var me = Process.GetCurrentProcess();
        return new MachineLoad(ReadMachine(), me.TotalProcessorTime);
    }

    /// <summary>Percent of the machine's capacity (all cores) used by other processes since <see cref="Start"/>,
    /// given the CPU our children used over the same time (in jiffies); null where /proc is not there.</summary>
    public double? OtherPercent(long childJiffies)
    {
        var now = ReadMachine();
        if (now.Total <= _machine.Total) return null;
        using var me = Process.GetCurrentProcess();
        var self = (long)((me.TotalProcessorTime - _self).TotalMilliseconds / 10);
        var other = now.Busy - _machine.Busy - childJiffies - self;
        return Math.Clamp(100.0 * other / (now.Total - _machine.Total), 0, 100);
    }

    /// <summary>User and system time of one process so far, in jiffies (1/100 s); 0 when it is gone.</summary>
    public static long ProcessJiffies(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(rest[11], CultureInfo.InvariantCulture) + long.Parse(rest[12], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }

    private static (long Busy, long Total) ReadMachine()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").First(l => l.StartsWith("cpu ", StringComparison.Ordinal));
            var v = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            // user nice system idle iowait irq softirq steal
            var idle = v[3] + v[4];
            var total = v.Sum();
            return (total - idle, total);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or FormatException)
        {
            return (0, 0);
        }
    }
}
