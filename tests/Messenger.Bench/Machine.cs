using System.Reflection;
using System.Runtime.InteropServices;

namespace Messenger.Bench;

/// <summary>The machine and software a run measured, for the table header and machine.json.</summary>
internal sealed record Machine(
    int Cores,
    string Os,
    string Kernel,
    string Cpu,
    double MemoryGb,
    string DotNet,
    string NetMq,
    string MessengerCore,
    string Gc,
    DateTimeOffset Date,
    int Repeat,
    int RoundTripRepeat,
    bool Quick,
    string Layout,
    string LoadAtStart)
{
    public double? OtherLoadMean { get; init; }

    public double? OtherLoadMax { get; init; }

    /// <summary>The 1, 5 and 15 minute load averages: a busy machine makes every figure lower and noisier.</summary>
    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
        catch (UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    public static Machine Describe(Settings settings) => new(
        Environment.ProcessorCount,
        OsName(),
        KernelRelease(),
        CpuModel(),
        Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1073741824.0, 1),
        RuntimeInformation.FrameworkDescription,
        Version(typeof(NetMQ.NetMQSocket).Assembly),
        Version(typeof(MessengerNode).Assembly),
        System.Runtime.GCSettings.IsServerGC ? "server" : "workstation",
        DateTimeOffset.UtcNow,
        settings.Repeat,
        settings.RoundTripRepeat,
        settings.Quick,
        "loopback 127.0.0.1; every sender, receiver, echo and node in its own process (a started copy of this program, or a child pwsh); "
        + "DEALER->ROUTER: 1 sender + 1 receiver process; round trip: 1 echo + 1 client process, one message in flight; "
        + $"PUB/SUB: 1 publisher (XPUB, to see the {Orchestrator.Subscribers} subscriptions arrive) + {Orchestrator.Subscribers} subscriber processes with one SUB each, high-water marks off; "
        + $"Messenger broadcast: 1 broadcasting node + {Orchestrator.Subscribers} receiving nodes, one process each; "
        + "throughput is timed at the receivers from the end of the warm-up to the last message, on the monotonic clock the processes share",
        LoadAverage());

    private static string Version(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? assembly.GetName().Version?.ToString()
        ?? "unknown";

    private static string OsName()
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/os-release"))
            {
                if (line.StartsWith("PRETTY_NAME=", StringComparison.Ordinal)) return line["PRETTY_NAME=".Length..].Trim('"');
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return RuntimeInformation.OSDescription;
    }

    private static string KernelRelease()
    {
        try
        {
            return $"{RuntimeInformation.OSArchitecture} Linux {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return RuntimeInformation.OSDescription;
        }
    }

    private static string CpuModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
