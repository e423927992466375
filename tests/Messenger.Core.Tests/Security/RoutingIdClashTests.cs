using System.Reflection;
using Messenger.Tests.Support;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Security;

/// <summary>NetMQ 4.0.4.5's ROUTER makes up the routing id 0 + a counter (from a random start) for a connection that
/// brings none, and throws when a peer has claimed that id already. A stranger who holds many such ids and opens many
/// connections gets there; here the counter is set by reflection to the id a stranger holds. Inside NetMQ's poller the
/// throw ended the process; the node must go on serving its members.</summary>
public sealed class RoutingIdClashTests
{
    [Fact]
    public async Task A_stranger_who_makes_the_unicast_ROUTER_throw_leaves_the_node_serving()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));

        var router = (NetMQSocket)typeof(Messenger.Transport.NodeRuntime).GetField("_router", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(b.Runtime)!;
        var core = typeof(NetMQSocket).GetProperty("SocketHandle", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(router)!;
        // The counter is the ROUTER's own, read and written on its thread only: set from here before any new
        // connection comes, which is what matters.
        core.GetType().GetField("m_nextPeerId", BindingFlags.Instance | BindingFlags.NonPublic)!.SetValue(core, 7777);
        byte[] claimed = [0, .. BitConverter.GetBytes(7777)];
        using var holder = new DealerSocket();
        holder.Options.Linger = TimeSpan.Zero;
        holder.Options.Identity = claimed;
        holder.Connect(b.Endpoint);
        holder.SendFrame([0x4D, 0x02, 0x05, 1, 2, 3]);
        await UntilAsync(b, () => b.Statistics.FramesRejected >= 1, "the holder's frame was never read");

        using var anonymous = new DealerSocket();
        anonymous.Options.Linger = TimeSpan.Zero;
        anonymous.Connect(b.Endpoint);
        anonymous.SendFrame([0x4D, 0x02, 0x05, 4, 5, 6]);
        await UntilAsync(b, () => b.Runtime.RouterIdClashes >= 1, "the clash never happened, so nothing was tested");

        Assert.Equal(NodeState.Running, b.State);
        await a.SendAsync("b", "still serving", topic: null, requireAck: true).WaitAsync(TestCluster.Timeout);
        Assert.Equal("still serving", (await TestCluster.ReadAsync(b, 1))[0].GetText());
        await b.SendAsync("a", "and answering", topic: null, requireAck: true).WaitAsync(TestCluster.Timeout);
    }

    /// <summary>Waits until <paramref name="done"/> holds, looking again after each turn of the node's poller, the
    /// thread on which both conditions change (each turn also makes the ROUTER process what is pending).</summary>
    private static async Task UntilAsync(MessengerNode node, Func<bool> done, string failure)
    {
        var deadline = DateTime.UtcNow + TestCluster.Timeout;
        while (!await node.Runtime.InvokeAsync(done).WaitAsync(TestCluster.Timeout))
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
        }
    }
}
