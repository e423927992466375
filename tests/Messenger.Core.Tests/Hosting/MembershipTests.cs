using System.Net;
using System.Net.Sockets;
using Messenger.Discovery;
using Messenger.Protocol;
using Messenger.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Messenger.Tests.Hosting;

public sealed class MembershipTests
{
    [Fact]
    public async Task Nodes_with_seeds_only_learn_the_whole_membership_from_one_seed()
    {
        await using var cluster = new TestCluster();
        static MessengerNodeOptions NoBeacon(MessengerNodeOptions o) => o with { BeaconEnabled = false };
        var a = await cluster.StartAsync("a", NoBeacon);
        var b = await cluster.StartAsync("b", o => NoBeacon(o) with { Seeds = [a.Endpoint] });
        var c = await cluster.StartAsync("c", o => NoBeacon(o) with { Seeds = [a.Endpoint] });
        await Task.WhenAll(
            a.WaitForPeersAsync(["b", "c"], TestCluster.Timeout),
            b.WaitForPeersAsync(["a", "c"], TestCluster.Timeout),
            c.WaitForPeersAsync(["a", "b"], TestCluster.Timeout));
        await b.SendAsync("c", "via membership");
        Assert.Equal("via membership", (await TestCluster.ReadAsync(c, 1))[0].GetText());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_seed_that_is_the_node_itself_is_known_as_such_quietly(bool insecure)
    {
        // A StatefulSet's pods often share one seed list, each pod's own endpoint in it.
        await using var cluster = new TestCluster { Insecure = insecure };
        var log = new CapturingLoggerFactory();
        var port = TestCluster.FreeTcpPort();
        var self = $"tcp://127.0.0.1:{port}";
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false, Port = port, Seeds = [self], LoggerFactory = log });

        var error = await Assert.ThrowsAsync<MessengerException>(() => a.ConnectAsync(self, TestCluster.Timeout));
        Assert.Equal("SeedIsThisNode", error.ErrorId);
        Assert.True(log.Contains(1105, self), log.All);
        Assert.DoesNotContain(log.Lines, l => l.Level >= LogLevel.Warning && l.EventId != 1003); // 1003: "runs INSECURE"
        Assert.Equal(0, a.Statistics.HandshakesRefused);
    }

    [Fact]
    public async Task Another_insecure_process_with_this_nodes_key_is_not_taken_for_this_node()
    {
        await using var cluster = new TestCluster { Insecure = true };
        var key = MessengerKeyPair.Generate();
        var log = new CapturingLoggerFactory();
        var a = await cluster.StartAsync("a", o => o with { KeyPair = key, BeaconEnabled = false });
        var b = await cluster.StartAsync("b", o => o with { KeyPair = key, BeaconEnabled = false, LoggerFactory = log });
        var error = await Assert.ThrowsAsync<MessengerException>(() => b.ConnectAsync(a.Endpoint, TestCluster.Timeout));
        Assert.Equal("HandshakeRefused", error.ErrorId);
        Assert.Contains(log.Lines, l => l.EventId == 1201 && l.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task A_seed_that_refuses_again_for_the_same_reason_is_an_error_in_the_log_once()
    {
        await using var other = new TestCluster();
        var elsewhere = await other.StartAsync("x", o => o with { BeaconEnabled = false });
        await using var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        await cluster.StartAsync("a", o => o with { BeaconEnabled = false, Seeds = [elsewhere.Endpoint], LoggerFactory = log });
        // Greeted every 2 s: three refusals.
        await log.Written.UntilAsync(() => log.Lines.Count(l => l.EventId == 1201) >= 3, () => log.All, TestCluster.Timeout);
        var refusals = log.Lines.Where(l => l.EventId == 1201).ToList();
        Assert.Equal([LogLevel.Error, LogLevel.Debug, LogLevel.Debug], refusals.Take(3).Select(l => l.Level));
        Assert.All(refusals, l => Assert.Contains("WrongCluster", l.Message));
    }

    [Fact]
    public async Task A_node_that_finds_another_of_its_name_says_so()
    {
        await using var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        var first = await cluster.StartAsync("twin", o => o with { LoggerFactory = log });
        var second = await cluster.StartAsync("twin");
        await log.Written.UntilAsync(() => log.Contains(1109, $"node {second.Id} at {second.Endpoint}, found by beacon"), () => log.All, TestCluster.Timeout);
    }

    [Fact]
    public async Task ConnectAsync_joins_through_an_endpoint()
    {
        await using var cluster = new TestCluster();
        var (a, b) = await StartWithoutBeaconsAsync(cluster);
        var peer = await b.ConnectAsync(a.Endpoint, TestCluster.Timeout);
        Assert.Equal(("a", PeerState.Connected), (peer.Name, peer.State));
        // a may greet b (after b's seed HELLO) before b hears a's WELCOME: either way b found a through the endpoint.
        Assert.Contains(peer.DiscoveredBy, new[] { "seed", "hello" });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
    }

    [Fact]
    public async Task ConnectAsync_with_no_timeout_waits_until_the_peer_is_connected()
    {
        await using var cluster = new TestCluster();
        var (a, b) = await StartWithoutBeaconsAsync(cluster);
        using var cancel = new CancellationTokenSource(TestCluster.Timeout);
        var peer = await b.ConnectAsync(a.Endpoint, Timeout.InfiniteTimeSpan, cancel.Token);
        Assert.Equal(("a", PeerState.Connected), (peer.Name, peer.State));
    }

    [Fact]
    public async Task ConnectAsync_with_a_zero_timeout_finds_a_peer_connected_there_already()
    {
        await using var cluster = new TestCluster();
        var (a, b) = await StartWithoutBeaconsAsync(cluster);
        await b.ConnectAsync(a.Endpoint, TestCluster.Timeout);
        var again = await b.ConnectAsync(a.Endpoint, TimeSpan.Zero);
        Assert.Equal(("a", PeerState.Connected), (again.Name, again.State));
        await Assert.ThrowsAsync<PeerWaitTimeoutException>(() => b.ConnectAsync($"tcp://127.0.0.1:{TestCluster.FreeTcpPort()}", TimeSpan.Zero));
    }

    [Fact]
    public async Task Joining_through_an_endpoint_shakes_hands_once()
    {
        await using var cluster = new TestCluster();
        var (a, b) = await StartWithoutBeaconsAsync(cluster);
        await b.ConnectAsync(a.Endpoint, TestCluster.Timeout);
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        // b's greeting connection became its link: a accepted one session from b, not a greeting and then a link.
        Assert.Equal(1, await a.Runtime.SessionCountAsync("b"));
        await b.SendAsync("a", "over the greeted connection");
        Assert.Equal("over the greeted connection", (await TestCluster.ReadAsync(a, 1))[0].GetText());
    }

    [Fact]
    public async Task A_node_of_another_cluster_is_refused_and_ignored()
    {
        await using var mine = new TestCluster();
        await using var theirs = new TestCluster();
        var log = new CapturingLoggerFactory();
        var x = await theirs.StartAsync("x");
        var a = await mine.StartAsync("a", o => o with { LoggerFactory = log });
        var b = await mine.StartAsync("b");
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        // a hears x's beacon and leaves it: it never says HELLO to x, so x refuses nothing.
        await log.Written.UntilAsync(() => log.Contains(1104, $"cluster '{theirs.Name}'"), () => log.All, TestCluster.Timeout);
        Assert.DoesNotContain(a.GetPeers(), p => p.Name == "x");
        Assert.Equal(0, x.Statistics.HandshakesRefused);

        var error = await Assert.ThrowsAsync<MessengerException>(() => a.ConnectAsync(x.Endpoint, TestCluster.Timeout));
        Assert.Equal("HandshakeRefused", error.ErrorId);
        Assert.Contains("cluster", error.Message);
        Assert.DoesNotContain(a.GetPeers(), p => p.Name == "x");
        Assert.Empty(x.GetPeers());
        Assert.Equal(1, x.Statistics.HandshakesRefused);
    }

    [Fact]
    public async Task A_second_node_with_a_taken_name_is_refused()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false });
        var impostor = await cluster.StartAsync("a", o => o with { BeaconEnabled = false });
        var error = await Assert.ThrowsAsync<MessengerException>(() => impostor.ConnectAsync(a.Endpoint, TestCluster.Timeout));
        Assert.Equal("HandshakeRefused", error.ErrorId);
        Assert.Contains("taken", error.Message);
        Assert.Empty(a.GetPeers());
    }

    [Fact]
    public async Task A_stopped_node_is_seen_to_leave()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        using var probe = new EventProbe(a);
        await b.DisposeAsync();
        var left = await probe.WaitAsync("left", "b");
        Assert.Equal("left", left.Reason);
        Assert.Equal(PeerState.Gone, left.Peer.State);
        Assert.Null(a.GetPeer("b"));
        await Assert.ThrowsAsync<PeerNotFoundException>(async () => await a.SendAsync("b", "anyone?"));
    }

    [Fact]
    public async Task A_node_that_left_is_not_brought_back_by_a_late_beacon_but_gets_in_again_by_its_own_hello()
    {
        await using var cluster = new TestCluster();
        var key = MessengerKeyPair.Generate();
        var a = await cluster.StartAsync("a");
        // Longer than the test could take on a loaded machine: within it, only b's own HELLO brings b back.
        a.Runtime.DepartedQuarantineMilliseconds = 120_000;
        var b = await cluster.StartAsync("b", o => o with { KeyPair = key });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        var late = new BeaconAnnouncement(cluster.Name, NodeId.FromPublicKey(key.PublicKeyBytes), "b", b.Port, b.PublishPort, key.PublicKeyBytes);
        using (var probe = new EventProbe(a))
        {
            await b.DisposeAsync();
            await probe.WaitAsync("left", "b");
        }

        // b's beacon arrives after its LEAVE, as one already on its way would; then another node's. a reads its
        // beacon socket in order: once it has found the second node, it has ignored b's beacon.
        var other = MessengerKeyPair.Generate();
        var marker = new BeaconAnnouncement(cluster.Name, NodeId.FromPublicKey(other.PublicKeyBytes), "marker", 9, 9, other.PublicKeyBytes);
        var changed = a.Runtime.PeersChanged;
        using (var udp = new UdpClient(AddressFamily.InterNetwork) { EnableBroadcast = true })
        {
            var to = new IPEndPoint(IPAddress.Parse("127.255.255.255"), MessengerNodeOptions.Default.BeaconPort);
            await udp.SendAsync(late.Encode(), to);
            await udp.SendAsync(marker.Encode(), to);
        }
        using var deadline = new CancellationTokenSource(TestCluster.Timeout);
        while (a.GetPeer("marker") is null)
        {
            await changed.WaitAsync(deadline.Token);
            changed = a.Runtime.PeersChanged;
        }
        Assert.Null(a.GetPeer("b"));

        // Back with its key at once: its HELLO, first-hand, lets it in.
        var b2 = await cluster.StartAsync("b", o => o with { KeyPair = key });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        Assert.Equal((b2.Id, "hello"), (a.GetPeer("b")!.Id, a.GetPeer("b")!.DiscoveredBy));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_node_restarted_with_its_key_before_it_is_gone_is_heard_from_1_again(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var key = MessengerKeyPair.Generate();
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { KeyPair = key });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        for (var i = 0; i < 5; i++) await b.BroadcastAsync($"old {i}");
        Assert.Equal(5, (await TestCluster.ReadAsync(a, 5))[^1].Sequence);
        for (var i = 0; i < 5; i++) await b.SendAsync("a", $"old unicast {i}", topic: null, requireAck: true);
        Assert.Equal(5, (await TestCluster.ReadAsync(a, 5))[^1].Sequence);

        using var probe = new EventProbe(a);
        await b.AbandonForTestsAsync();
        await probe.WaitAsync("unreachable", "b");
        var b2 = await cluster.StartAsync("b", o => o with { KeyPair = key });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b2.WaitForPeersAsync(["a"], TestCluster.Timeout));

        // Its new incarnation (a new broadcast key, or in protocol 1 a new incarnation in its HELLO) tells a
        // restarted peer from a reconnected one: the old process's sessions end, and its new streams, from 1, are
        // not taken for duplicates of the old ones.
        Assert.Equal(1, await a.Runtime.SessionCountAsync("b"));
        await b2.BroadcastAsync("new");
        var got = (await TestCluster.ReadAsync(a, 1)).Single();
        Assert.Equal(("new", 1L), (got.GetText(), got.Sequence));
        Assert.Equal(0, a.Statistics.BroadcastsMissed);
        await b2.SendAsync("a", "new unicast", topic: null, requireAck: true).WaitAsync(TestCluster.Timeout);
        got = (await TestCluster.ReadAsync(a, 1)).Single();
        Assert.Equal(("new unicast", 1L), (got.GetText(), got.Sequence));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_peer_restarted_on_its_ports_is_connected_again_only_once_it_hears_broadcasts(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var key = MessengerKeyPair.Generate();
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { KeyPair = key });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        var ports = cluster.Options("b") with { KeyPair = key, Port = b.Port, PublishPort = b.PublishPort, DataPort = b.DataPort };

        // a broadcasts the moment it reports b connected again. On its old ports a's sockets reconnect to the new
        // process by themselves; the links the old one had proved must be proved again first, or the broadcast
        // meets a subscriber that is not yet subscribed and is lost without a trace (the new process has never
        // heard a, so it counts no gap).
        var rejoined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var armed = 0;
        a.PeerJoined += (_, e) =>
        {
            if (e.Peer.Name != "b" || Volatile.Read(ref armed) == 0) return;
            a.BroadcastAsync("hello again").AsTask().Wait();
            rejoined.TrySetResult();
        };
        using (var probe = new EventProbe(a))
        {
            await b.AbandonForTestsAsync();
            await probe.WaitAsync("unreachable", "b");
        }
        Volatile.Write(ref armed, 1);
        var b2 = await cluster.StartAsync("b", _ => ports);
        await rejoined.Task.WaitAsync(TestCluster.Timeout);
        await b2.WaitForPeersAsync(["a"], TestCluster.Timeout);
        await a.BroadcastAsync("marker");

        var first = (await TestCluster.ReadAsync(b2, 1))[0];
        Assert.Equal(("hello again", 0L), (first.GetText(), b2.Statistics.BroadcastsMissed));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_peer_restarted_on_new_ports_before_it_was_missed_gets_what_is_sent_to_it(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var key = MessengerKeyPair.Generate();
        // Heartbeats 1 s apart: the new process greets a before a notices that the old one died.
        var a = await cluster.StartAsync("a", o => o with { HeartbeatInterval = TimeSpan.FromSeconds(1) });
        var b = await cluster.StartAsync("b", o => o with { KeyPair = key });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        await a.SendAsync("b", "before", topic: null, requireAck: true);

        await b.AbandonForTestsAsync();
        var b2 = await cluster.StartAsync("b", o => o with { KeyPair = key });
        Assert.NotEqual(b.Port, b2.Port);

        // The new process's frames keep a's link alive: a must follow it to its new address by its handshake.
        await a.SendAsync("b", "to the new b", topic: null, requireAck: true).WaitAsync(TestCluster.Timeout);
        Assert.Equal("to the new b", (await TestCluster.ReadAsync(b2, 1))[0].GetText());
        Assert.Equal(b2.Endpoint, a.GetPeer("b")!.Endpoint);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Two_peers_restarted_at_once_on_new_ports_with_seeds_only_find_each_other(bool insecure)
    {
        // The new c0 joins through s before s has missed the old c1, and links to the old c1's address from s's PEERS
        // list. The new c1's HELLO did not move that link, never welcomed there, so both waited in Joining until it
        // timed out (12-15 s; for good with these patient nodes).
        await using var cluster = new TestCluster { Insecure = insecure };
        MessengerNodeOptions SeedsOnly(MessengerNodeOptions o) => TestCluster.Patient(o) with { BeaconEnabled = false };
        var s = await cluster.StartAsync("s", SeedsOnly);
        var keys = new[] { MessengerKeyPair.Generate(), MessengerKeyPair.Generate() };
        MessengerNodeOptions Member(int i) => SeedsOnly(cluster.Options($"c{i}")) with { Seeds = [s.Endpoint], KeyPair = keys[i] };
        string[] all = ["s", "c0", "c1"];
        var first = new[] { await cluster.StartAsync("c0", _ => Member(0)), await cluster.StartAsync("c1", _ => Member(1)) };
        await Task.WhenAll(new[] { s, first[0], first[1] }.Select(n => n.WaitForPeersAsync(all, TestCluster.Timeout)));
        foreach (var node in first) await node.AbandonForTestsAsync();

        await using var c0 = await MessengerNode.StartAsync(Member(0));
        await using var c1 = await MessengerNode.StartAsync(Member(1));
        await Task.WhenAll(new[] { s, c0, c1 }.Select(n => n.WaitForPeersAsync(all, TestCluster.Timeout)));
        Assert.Equal(c1.Endpoint, c0.GetPeer("c1")!.Endpoint);
        Assert.Equal(c0.Endpoint, c1.GetPeer("c0")!.Endpoint);
    }

    [Fact]
    public async Task A_vanished_node_is_reported_unreachable_then_gone()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { PeerGoneAfter = TimeSpan.FromSeconds(2) });
        var b = await cluster.StartAsync("b");
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        using var probe = new EventProbe(a);
        await b.AbandonForTestsAsync();
        var unreachable = await probe.WaitAsync("unreachable", "b");
        Assert.Equal(PeerState.Unreachable, unreachable.Peer.State);
        // Its connection closed: detected by connection loss, not by the (4 s) silence timeout.
        Assert.Equal("connection lost", unreachable.Reason);
        var gone = await probe.WaitAsync("left", "b");
        // Gone after PeerGoneAfter; or sooner, when a node of another test's cluster took over b's freed port and
        // refused a's reconnecting link (tests run in parallel): either way b is reported gone, with why.
        Assert.True(gone.Reason.Contains("unreachable") || gone.Reason.StartsWith("refused: this node is in cluster"), gone.Reason);
    }

    [Fact]
    public async Task A_node_that_comes_back_under_its_name_replaces_its_old_self()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b");
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        using var probe = new EventProbe(a);
        await b.AbandonForTestsAsync();
        await probe.WaitAsync("unreachable", "b");
        var b2 = await cluster.StartAsync("b");
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        Assert.Equal(b2.Id, a.GetPeer("b")!.Id);
        await a.SendAsync("b", "welcome back");
        Assert.Equal("welcome back", (await TestCluster.ReadAsync(b2, 1))[0].GetText());
    }

    [Fact]
    public async Task WaitForPeersAsync_names_who_is_missing()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var error = await Assert.ThrowsAsync<PeerWaitTimeoutException>(() => a.WaitForPeersAsync(["ghost"], TimeSpan.FromMilliseconds(300)));
        Assert.Equal(["ghost"], error.Missing);
        Assert.Equal("PeerWaitTimeout", error.ErrorId);
        await Assert.ThrowsAsync<PeerWaitTimeoutException>(() => a.WaitForPeerCountAsync(1, TimeSpan.FromMilliseconds(300)));
        await a.WaitForPeerCountAsync(0, TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task A_node_at_its_peer_limit_says_once_that_it_does_not_link_a_node_it_found_and_rejects_no_frame_of_it()
    {
        await using var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        var a = await cluster.StartAsync("a", o => o with { MaxPeers = 1, LoggerFactory = log });
        await cluster.StartAsync("b");
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await cluster.StartAsync("c");
        // Found by its beacon, and then greeted by it: its HELLO is refused.
        await log.Written.UntilAsync(() => log.Contains(1108, "Not linking c") && log.Contains(1200, "Refused HELLO from c"), () => log.All, TestCluster.Timeout);
        Assert.Equal(0, a.Statistics.FramesRejected);
        Assert.Equal(["b"], a.GetPeers().Select(p => p.Name));
    }

    [Fact]
    public async Task One_seed_under_three_spellings_joins_both_sides()
    {
        // Three greetings of a reach b, which keeps two sessions per peer and drops the oldest: at times the one a's
        // link took over, after a had said on it that it hears b (SUB_READY). a is told RESET and shakes hands again;
        // b, told nothing else, waited for a's link to be removed as never completed (here, after minutes).
        for (var round = 0; round < 20; round++)
        {
            await using var cluster = new TestCluster();
            var b = await cluster.StartAsync("b", o => TestCluster.Patient(o) with { BeaconEnabled = false });
            var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false, Seeds = [$"tcp://127.0.0.1:{b.Port}", $"tcp://localhost:{b.Port}", $"tcp://{Environment.MachineName}:{b.Port}"] });
            await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
            await b.WaitForPeersAsync(["a"], TestCluster.Timeout);
        }
    }

    [Fact]
    public async Task WaitForPeersAsync_passes_over_the_nodes_own_name_so_every_member_can_wait_for_the_same_list()
    {
        await using var cluster = new TestCluster();
        var nodes = await cluster.StartConnectedAsync("a", "b");
        await Task.WhenAll(nodes.Select(n => n.WaitForPeersAsync(["a", "b"], TestCluster.Timeout)));
        var error = await Assert.ThrowsAsync<PeerWaitTimeoutException>(() => nodes[0].WaitForPeersAsync(["a", "ghost"], TimeSpan.FromMilliseconds(300)));
        Assert.Equal(["ghost"], error.Missing);
    }

    /// <summary>Nodes a and b, which find each other only through an endpoint they are given.</summary>
    private static async Task<(MessengerNode A, MessengerNode B)> StartWithoutBeaconsAsync(TestCluster cluster) =>
        (await cluster.StartAsync("a", o => o with { BeaconEnabled = false }), await cluster.StartAsync("b", o => o with { BeaconEnabled = false }));
}
