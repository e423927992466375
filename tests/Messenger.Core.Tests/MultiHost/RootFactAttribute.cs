namespace Messenger.Tests.MultiHost;

/// <summary>
/// A fact that needs root on Linux (it builds hosts out of network namespaces, veth pairs and a bridge with
/// <c>ip</c>). Elsewhere it is skipped, with the reason, when the test run starts: deterministic, no test body runs.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class RootFactAttribute : FactAttribute
{
    public const string NeedsRoot = "needs root to create network namespaces";

    public RootFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "needs Linux network namespaces";
        else if (!IsRoot()) Skip = NeedsRoot;
        else if (NetworkLab.IpCommand is null) Skip = "needs the ip command (iproute2) to create network namespaces";
    }

    /// <summary>Whether the effective user id is 0: the second field of the Uid line of /proc/self/status
    /// (real, effective, saved, filesystem), so no P/Invoke is needed.</summary>
    public static bool IsRoot()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith("Uid:", StringComparison.Ordinal)) continue;
                var fields = line["Uid:".Length..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                return fields.Length > 1 && fields[1] == "0";
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return Environment.UserName == "root";
    }
}
