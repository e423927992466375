using System.Globalization;
using Xunit.Abstractions;

namespace Messenger.Tests.MultiHost;

/// <summary>What the multi-host tests share: timeouts, starting several nodes, waiting until they all see each
/// other, and reporting measured times in the test output.</summary>
public abstract class MultiHostTestBase
{
    /// <summary>How long nodes get to find each other (generous: node processes start on a 2-core machine).</summary>
    protected static readonly TimeSpan Discovery = TimeSpan.FromSeconds(30);

    /// <summary>How long a message gets to arrive.</summary>
    protected static readonly TimeSpan Delivery = TimeSpan.FromSeconds(15);

    /// <summary>How long a test waits for a state change it then checks against the real limit.</summary>
    protected static readonly TimeSpan Detection = TimeSpan.FromSeconds(15);

    /// <summary>The engine's promise at default settings: a killed peer is reported unreachable within 2 s.</summary>
    protected const double KillDetectionLimitMs = 2000;

    /// <summary>The engine's promise at default settings: a silent (cut off) peer within 5 s.</summary>
    protected const double PartitionDetectionLimitMs = 5000;

    protected MultiHostTestBase(ITestOutputHelper output) => Output = output;

    protected ITestOutputHelper Output { get; }

    /// <summary>Starts nodes side by side; each spec is a host, a name and extra TestNode options.</summary>
    internal static async Task<NodeProcess[]> StartNodesAsync(NetworkLab lab, params (LabHost Host, string Name, string[] Args)[] specs) =>
        await Task.WhenAll(specs.Select(s => lab.StartNodeAsync(s.Host, s.Name, s.Args)));

    /// <summary>Waits until every node reported every other one joined.</summary>
    internal static async Task WaitForMeshAsync(IReadOnlyList<NodeProcess> nodes)
    {
        var waits = from n in nodes
                    from other in nodes
                    where other != n
                    select n.WaitForPeerEventAsync("joined", other.Name, Discovery);
        await WithTranscriptsAsync(Task.WhenAll(waits), nodes);
    }

    /// <summary>Waits until a (re)started node reported each of the others joined, and each of them reported it
    /// joined after its mark.</summary>
    internal static async Task WaitForRejoinAsync(NodeProcess node, IReadOnlyDictionary<NodeProcess, int> others, TimeSpan timeout)
    {
        var waits = others.Keys.Select(o => node.WaitForPeerEventAsync("joined", o.Name, timeout))
            .Concat(others.Select(o => o.Key.WaitForPeerEventAsync("joined", node.Name, timeout, o.Value)));
        await WithTranscriptsAsync(Task.WhenAll(waits), [node, .. others.Keys]);
    }

    /// <summary>A wait on several nodes that timed out says what each of them saw, not only the first.</summary>
    private static async Task WithTranscriptsAsync(Task waits, IEnumerable<NodeProcess> nodes)
    {
        try
        {
            await waits;
        }
        catch (TimeoutException e)
        {
            var first = e.Message.Split('\n')[0];
            throw new TimeoutException($"{first}\n{string.Join("", nodes.Select(n => n.Transcript()))}", e);
        }
    }

    /// <summary>A node's peer events and drops since a mark, in a line: "unreachable c (nothing heard ...), left c (...)".</summary>
    internal static string Describe(NodeProcess node, int after) =>
        $"{node.Name} saw: " + string.Join(", ", node.Events.Skip(after)
            .Where(e => e.Kind is "joined" or "unreachable" or "left" or "dropped")
            .Select(e => $"{e.Kind} {e.Peer} ({e["reason"]})"));

    internal static Dictionary<NodeProcess, int> Marks(params NodeProcess[] nodes) => nodes.ToDictionary(n => n, n => n.Mark);

    /// <summary>Writes a measured time to the test output, in one greppable form: "TIMING &lt;what&gt;: &lt;ms&gt; ms".</summary>
    protected void Report(string what, double milliseconds) =>
        Output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"TIMING {what}: {milliseconds:0} ms"));
}
