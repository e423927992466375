using Xunit.Abstractions;

namespace Messenger.Tests.MultiHost;

/// <summary>Discovery on a host with two interfaces, one on each of two subnets with no route between them: the
/// beacon announces and listens on the interfaces it is told to use (by name or by address), and on all of them by
/// default.</summary>
[Collection(MultiHostCollection.Name)]
public sealed class BeaconInterfaceAcrossHostsTests : MultiHostTestBase
{
    /// <summary>How long the nodes of one subnet wait, by their own clocks, for a node of the other to connect
    /// before a test says it never will: eight intervals of the beacon (250 ms by default). A beacon heard on a
    /// bridge links two nodes within milliseconds.</summary>
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(2);

    public BeaconInterfaceAcrossHostsTests(ITestOutputHelper output) : base(output) { }

    [RootFact]
    public Task Host_on_two_subnets_with_its_beacon_on_eth0_by_name_meets_only_the_hosts_of_that_subnet() =>
        BeaconOnTheFirstSubnetOnlyAsync(host => LabHost.Link);

    [RootFact]
    public Task Host_on_two_subnets_with_its_beacon_on_the_address_of_eth0_meets_only_the_hosts_of_that_subnet() =>
        BeaconOnTheFirstSubnetOnlyAsync(host => host.Address!);

    /// <summary>
    /// a is on both bridges with its beacon on eth0 (<paramref name="beaconInterface"/> names it), b on the first
    /// bridge, c and d on the second, all three with the default interface. a and b must meet by beacon; a must
    /// never learn of c or d, nor they of a. The absence is checked once beacons are known to flow on the second
    /// bridge (c and d met there by beacon) and after a window the nodes measure themselves: each of a, c and d
    /// waits for the others' side to be connected for <see cref="Window"/> and must report that wait timed out.
    /// Were a's choice ignored (a on "auto"), a would hear every beacon of c and d on eth1 and they a's, and a beacon
    /// heard puts its sender in the hearer's peer table at once (state "joining", connected a few ms later): so
    /// the waits would end "waited", and the tables, checked last, would list the other side in some state.
    /// </summary>
    private async Task BeaconOnTheFirstSubnetOnlyAsync(Func<LabHost, string> beaconInterface)
    {
        await using var lab = await NetworkLab.CreateAsync(Output);
        var ha = await lab.AddHostOnBothBridgesAsync("ha", 1);
        var hb = await lab.AddBridgedHostAsync("hb", 2);
        var hc = await lab.AddBridgedHostAsync("hc", 3, LabBridge.Second);
        var hd = await lab.AddBridgedHostAsync("hd", 4, LabBridge.Second);

        var first = await StartNodesAsync(lab, (ha, "a", ["--beacon-interface", beaconInterface(ha)]), (hb, "b", []));
        var (a, b) = (first[0], first[1]);
        // Bound to every interface, a advertises the address of its beacon interface.
        Assert.StartsWith($"tcp://{ha.Address}:", a.Endpoint, StringComparison.Ordinal);
        await WaitForMeshAsync(first);
        AssertMetByBeacon(first);
        Assert.Equal(hb.Address, (await a.WaitForPeerEventAsync("joined", "b", Discovery))["address"]);
        Assert.Equal(ha.Address, (await b.WaitForPeerEventAsync("joined", "a", Discovery))["address"]);

        var second = await StartNodesAsync(lab, (hc, "c", []), (hd, "d", []));
        var (c, d) = (second[0], second[1]);
        await WaitForMeshAsync(second);
        AssertMetByBeacon(second);

        await AssertNeverConnectedAsync((a, ["c", "d"]), (c, ["a"]), (d, ["a"]));
        var tables = await Task.WhenAll(new[] { a, b, c, d }.Select(n => n.PeersAsync(Delivery)));
        Assert.Equal(["b"], PeerEntries(tables[0]).Select(p => p.Name));
        Assert.Equal(["a"], PeerEntries(tables[1]).Select(p => p.Name));
        Assert.Equal(["d"], PeerEntries(tables[2]).Select(p => p.Name));
        Assert.Equal(["c"], PeerEntries(tables[3]).Select(p => p.Name));
        foreach (var n in new[] { a, b, c, d }) Assert.DoesNotContain(n.Events, e => e.Kind is "joined" or "unreachable" or "left" && !IsSameSubnet(n, e.Peer));

        // The two pairs work, each on its own subnet.
        await a.BroadcastAsync("a to everyone it knows", Delivery);
        await d.SendToAsync("c", "d to c on the second bridge", Delivery);
        await Task.WhenAll(
            b.WaitForMessageAsync("a", "broadcast", "a to everyone it knows", Delivery),
            c.WaitForMessageAsync("d", "unicast", "d to c on the second bridge", Delivery));
    }

    /// <summary>Linux reports the state "unknown", not "up", for virtual interfaces whose driver tracks no carrier: a
    /// bridge without ports (here), vxlan, tun (.NET reads them as up). Such an interface is used when named (a), and
    /// by the default choice (b), which advertises its address: the two nodes meet by beacon on it.</summary>
    [RootFact]
    public async Task Host_whose_interface_the_kernel_reports_in_state_unknown_uses_it_for_its_beacon()
    {
        await using var lab = await NetworkLab.CreateAsync(Output);
        var host = await lab.AddLoopbackHostAsync("hv");
        const string Address = "10.213.79.1";
        await lab.IpAsync("-n", host.Namespace, "link", "add", "vbr0", "type", "bridge");
        await lab.IpAsync("-n", host.Namespace, "addr", "add", $"{Address}/24", "dev", "vbr0");
        await lab.IpAsync("-n", host.Namespace, "link", "set", "vbr0", "up");
        var state = await NetworkLab.RunAsync(NetworkLab.IpCommand!, ["-n", host.Namespace, "-br", "link", "show", "vbr0"], Delivery);
        Assert.Contains("UNKNOWN", state.Output, StringComparison.Ordinal);

        var nodes = await StartNodesAsync(lab, (host, "a", ["--beacon-interface", "vbr0"]), (host, "b", []));
        foreach (var node in nodes) Assert.StartsWith($"tcp://{Address}:", node.Endpoint, StringComparison.Ordinal);
        await WaitForMeshAsync(nodes);
        AssertMetByBeacon(nodes);
    }

    /// <summary>a on both bridges with the default interface ("auto") announces and listens on both: b and c each
    /// find it by beacon, at its address on their own subnet. b and c, with no route between them, never connect.</summary>
    [RootFact]
    public async Task Host_on_two_subnets_with_the_default_beacon_interface_meets_the_hosts_of_both()
    {
        await using var lab = await NetworkLab.CreateAsync(Output);
        var ha = await lab.AddHostOnBothBridgesAsync("ha", 1);
        var hb = await lab.AddBridgedHostAsync("hb", 2);
        var hc = await lab.AddBridgedHostAsync("hc", 3, LabBridge.Second);

        var nodes = await StartNodesAsync(lab, (ha, "a", []), (hb, "b", []), (hc, "c", []));
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        await WaitForMeshAsync([a, b]);
        await WaitForMeshAsync([a, c]);
        AssertMetByBeacon([a, b]);
        AssertMetByBeacon([a, c]);
        // Each finds a at a's address on its own subnet, the source of the beacon it heard.
        Assert.Equal(ha.Address, (await b.WaitForPeerEventAsync("joined", "a", Discovery))["address"]);
        Assert.Equal(ha.SecondAddress, (await c.WaitForPeerEventAsync("joined", "a", Discovery))["address"]);

        await a.BroadcastAsync("a to both subnets", Delivery);
        await c.SendToAsync("a", "c to a from the second subnet", Delivery);
        await b.SendToAsync("a", "b to a from the first subnet", Delivery);
        await Task.WhenAll(
            b.WaitForMessageAsync("a", "broadcast", "a to both subnets", Delivery),
            c.WaitForMessageAsync("a", "broadcast", "a to both subnets", Delivery),
            a.WaitForMessageAsync("c", "unicast", "c to a from the second subnet", Delivery),
            a.WaitForMessageAsync("b", "unicast", "b to a from the first subnet", Delivery));

        // b and c learn of each other from a (its membership list) and try to link, but have no route to each
        // other: within the window each must still miss the other, and know of it only as not connected.
        await AssertNeverConnectedAsync((b, ["c"]), (c, ["b"]));
        foreach (var (n, other) in new[] { (b, "c"), (c, "b") })
        {
            var entry = PeerEntries(await n.PeersAsync(Delivery)).SingleOrDefault(p => p.Name == other);
            Assert.True(entry.Name is not null, $"{n.Name} never learned of {other} from a's membership list: the window proved nothing");
            Assert.Equal("membership", entry.DiscoveredBy);
            Assert.NotEqual("connected", entry.State);
            Assert.DoesNotContain(n.Events, e => e.Kind == "joined" && e.Peer == other);
        }
    }

    /// <summary>Each node waits, side by side, <see cref="Window"/> by its own clock for those peers to be
    /// connected, and must answer that the wait timed out.</summary>
    private static async Task AssertNeverConnectedAsync(params (NodeProcess Node, string[] Peers)[] waits)
    {
        var answers = await Task.WhenAll(waits.Select(w => w.Node.WaitForPeersAsync(w.Peers, Window, Delivery)));
        foreach (var answer in answers)
        {
            Assert.True(answer.Kind == "error" && answer["errorId"] == "PeerWaitTimeout", $"a wait across the subnets must time out: {answer.Line}");
        }
    }

    /// <summary>At least one of the two nodes found the other by its beacon (the other may have been found by the
    /// HELLO of a node that heard its beacon first).</summary>
    private static void AssertMetByBeacon(NodeProcess[] pair)
    {
        var joins = pair.SelectMany(n => n.Events.Where(e => e.Kind == "joined" && pair.Any(p => p.Name == e.Peer))).ToList();
        Assert.Contains(joins, j => j["discoveredBy"] == "beacon");
    }

    /// <summary>The entries of a "peers" answer: every peer the node knows of, in any state.</summary>
    private static (string Name, string State, string DiscoveredBy)[] PeerEntries(NodeEvent peers) =>
        [.. peers.Json.GetProperty("peers").EnumerateArray().Select(p =>
            (p.GetProperty("name").GetString()!, p.GetProperty("state").GetString()!, p.GetProperty("discoveredBy").GetString()!))];

    // a and b are on the first subnet, c and d on the second.
    private static bool IsSameSubnet(NodeProcess node, string? peer) => (node.Name is "a" or "b") == (peer is "a" or "b");
}
