using System.Collections.Concurrent;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// The nodes started in this process's PowerShell sessions, by name (case-sensitive, as node names are on the
/// wire). Start-MessengerNode adds, Stop-MessengerNode removes; every other cmdlet looks nodes up here.
/// </summary>
internal static class NodeRegistry
{
    private static readonly ConcurrentDictionary<string, MessengerNodeInfo> Nodes = new(StringComparer.Ordinal);

    /// <summary>Every node, ordered by name.</summary>
    public static MessengerNodeInfo[] All => Nodes.Values.OrderBy(n => n.Name, StringComparer.Ordinal).ToArray();

    public static int Count => Nodes.Count;

    public static bool Contains(string name) => Nodes.ContainsKey(name);

    public static bool TryGet(string name, out MessengerNodeInfo node) => Nodes.TryGetValue(name, out node!);

    public static bool TryAdd(MessengerNodeInfo node) => Nodes.TryAdd(node.Name, node);

    /// <summary>Removes this node (not another one that took its name since).</summary>
    public static bool Remove(MessengerNodeInfo node) => Nodes.TryRemove(new KeyValuePair<string, MessengerNodeInfo>(node.Name, node));

    /// <summary>Stops every node, waiting at most <paramref name="timeout"/>: when the process exits.</summary>
    public static void StopAll(TimeSpan timeout) => Stop(All, timeout);

    /// <summary>Stops the nodes started in runspace <paramref name="runspace"/>, waiting at most
    /// <paramref name="timeout"/>: when the module is removed there.</summary>
    public static void StopStartedIn(Guid runspace, TimeSpan timeout) => Stop(All.Where(n => n.StartedIn == runspace).ToArray(), timeout);

    private static void Stop(MessengerNodeInfo[] nodes, TimeSpan timeout)
    {
        foreach (var node in nodes) Remove(node);
        if (nodes.Length == 0) return;
        try
        {
            Task.WaitAll(nodes.Select(n => Task.Run(n.StopAsync)).ToArray(), timeout);
        }
        catch (AggregateException)
        {
            // StopToken on the way out: nothing is left to report to.
        }
    }
}
