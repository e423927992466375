using Xunit.Abstractions;

namespace Messenger.Tests.MultiHost;

/// <summary>Discovery with real node processes on hosts made of network namespaces: a loopback-only host, and
/// three hosts on a bridge found by beacon or by seeds alone.</summary>
[Collection(MultiHostCollection.Name)]
public sealed class DiscoveryAcrossHostsTests : MultiHostTestBase
{
    public DiscoveryAcrossHostsTests(ITestOutputHelper output) : base(output) { }

    [RootFact]
    public async Task Loopback_only_host_three_nodes_find_each_other_by_beacon_with_the_default_interface()
    {
        await using var lab = await NetworkLab.CreateAsync(Output);
        var host = await lab.AddLoopbackHostAsync("lo");

        // No --beacon-interface and no --bind: the default ("every broadcast-capable interface, else loopback")
        // must fall back to loopback on a host that has nothing else.
        var nodes = await StartNodesAsync(lab, (host, "a", []), (host, "b", []), (host, "c", []));
        foreach (var n in nodes) Assert.StartsWith("tcp://127.0.0.1:", n.Endpoint, StringComparison.Ordinal);

        await WaitForMeshAsync(nodes);
        // No seeds: every peer is found by its beacon, or by the HELLO of a node that found this one by beacon
        // first (which of the two wins the race depends on timing).
        var joins = nodes.SelectMany(n => n.Events.Where(e => e.Kind == "joined")).ToList();
        foreach (var joined in joins)
        {
            Assert.Equal("127.0.0.1", joined["address"]);
            Assert.Contains(joined["discoveredBy"], new[] { "beacon", "hello" });
        }
        Assert.Contains(joins, j => j["discoveredBy"] == "beacon");

        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        await a.SendToAsync("b", "hello b, from a", Delivery);
        var unicast = await b.WaitForMessageAsync("a", "unicast", "hello b, from a", Delivery);
        Assert.Equal("1", unicast["sequence"]);

        await c.BroadcastAsync("hello everyone, from c", Delivery);
        await Task.WhenAll(
            a.WaitForMessageAsync("c", "broadcast", "hello everyone, from c", Delivery),
            b.WaitForMessageAsync("c", "broadcast", "hello everyone, from c", Delivery));
        Assert.DoesNotContain(c.Events, e => e.Kind == "message");

        // A polite stop is seen as "left" at once by the others.
        var marks = Marks(b, c);
        Assert.Equal(0, await a.StopAsync(TimeSpan.FromSeconds(10)));
        await Task.WhenAll(
            b.WaitForPeerEventAsync("left", "a", Detection, marks[b]),
            c.WaitForPeerEventAsync("left", "a", Detection, marks[c]));
    }

    [RootFact]
    public async Task Three_hosts_on_a_bridge_find_each_other_by_beacon()
    {
        await using var lab = await NetworkLab.CreateAsync(Output);
        var h1 = await lab.AddBridgedHostAsync("h1", 1);
        var h2 = await lab.AddBridgedHostAsync("h2", 2);
        var h3 = await lab.AddBridgedHostAsync("h3", 3);
        string[] beacon = ["--beacon-interface", LabHost.Link];

        var nodes = await StartNodesAsync(lab, (h1, "a", beacon), (h2, "b", beacon), (h3, "c", beacon));
        // Bound to every interface, each node advertises the address of its beacon interface.
        foreach (var n in nodes) Assert.StartsWith($"tcp://{n.Host.Address}:", n.Endpoint, StringComparison.Ordinal);

        await WaitForMeshAsync(nodes);
        foreach (var n in nodes)
        {
            foreach (var joined in n.Events.Where(e => e.Kind == "joined"))
            {
                var peer = nodes.Single(p => p.Name == joined.Peer);
                Assert.Equal(peer.Host.Address, joined["address"]);
                Assert.Equal(peer.Id, joined["id"]);
            }
        }

        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        await a.SendToAsync("c", "a to c across the bridge", Delivery);
        await c.SendToAsync("a", "c to a across the bridge", Delivery);
        await b.BroadcastAsync("b to everyone", Delivery);
        await Task.WhenAll(
            c.WaitForMessageAsync("a", "unicast", "a to c across the bridge", Delivery),
            a.WaitForMessageAsync("c", "unicast", "c to a across the bridge", Delivery),
            a.WaitForMessageAsync("b", "broadcast", "b to everyone", Delivery),
            c.WaitForMessageAsync("b", "broadcast", "b to everyone", Delivery));
    }

    [RootFact]
    public async Task Three_hosts_on_a_bridge_find_each_other_by_seeds_alone_with_the_beacon_off()
    {
        await using var lab = await NetworkLab.CreateAsync(Output);
        var h1 = await lab.AddBridgedHostAsync("h1", 1);
        var h2 = await lab.AddBridgedHostAsync("h2", 2);
        var h3 = await lab.AddBridgedHostAsync("h3", 3);

        var a = await lab.StartNodeAsync(h1, "a", "--no-beacon", "--bind", h1.Address!);
        Assert.StartsWith($"tcp://{h1.Address}:", a.Endpoint, StringComparison.Ordinal);
        // b and c know only a: they must learn of each other from a's membership list.
        var others = await StartNodesAsync(lab,
            (h2, "b", ["--no-beacon", "--bind", h2.Address!, "--seed", a.Endpoint]),
            (h3, "c", ["--no-beacon", "--bind", h3.Address!, "--seed", a.Endpoint]));
        var (b, c) = (others[0], others[1]);

        await WaitForMeshAsync([a, b, c]);
        Assert.DoesNotContain(new[] { a, b, c }.SelectMany(n => n.Events), e => e.Kind == "joined" && e["discoveredBy"] == "beacon");
        var bSeesC = await b.WaitForPeerEventAsync("joined", "c", Discovery);
        Assert.Equal(h3.Address, bSeesC["address"]);

        await b.SendToAsync("c", "b to c, met through a", Delivery);
        await c.SendToAsync("b", "c to b, met through a", Delivery);
        await a.BroadcastAsync("a to everyone", Delivery);
        await Task.WhenAll(
            c.WaitForMessageAsync("b", "unicast", "b to c, met through a", Delivery),
            b.WaitForMessageAsync("c", "unicast", "c to b, met through a", Delivery),
            b.WaitForMessageAsync("a", "broadcast", "a to everyone", Delivery),
            c.WaitForMessageAsync("a", "broadcast", "a to everyone", Delivery));
    }
}
