using System.Text;
using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

public sealed class DiscoveryAndMessagingTests
{
    [Fact]
    public async Task Two_nodes_find_each_other_by_beacon_and_exchange_unicast()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await b.WaitForPeersAsync(["a"], TestCluster.Timeout);

        await a.SendAsync("b", "hello b", topic: "greeting");
        var m = Assert.Single(await TestCluster.ReadAsync(b, 1));
        Assert.Equal("a", m.From);
        Assert.Equal(a.Id, m.FromId);
        Assert.Equal("b", m.To);
        Assert.Equal(MessageKind.Unicast, m.Kind);
        Assert.Equal(MessageContentType.Text, m.ContentType);
        Assert.Equal("hello b", m.GetText());
        Assert.Equal("greeting", m.Topic);
        Assert.Equal(1, m.Sequence);
        Assert.Contains("beacon", new[] { b.GetPeer("a")!.DiscoveredBy, a.GetPeer("b")!.DiscoveredBy });
    }
}
