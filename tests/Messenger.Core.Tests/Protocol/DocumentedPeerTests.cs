using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Messenger.Tests.Support;
using NetMQ;
using NetMQ.Sockets;
using Xunit.Abstractions;

namespace Messenger.Tests.Protocol;

/// <summary>docs/PROTOCOL.md promises enough to write a peer in another language with a ZeroMQ library. DocumentedPeer
/// is one, written from the document alone (protocol 1, raw NetMQ sockets, none of Messenger's code): these tests
/// fail when the node and the document part ways.</summary>
public sealed class DocumentedPeerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan T = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(true, true, false)]
    [InlineData(false, false, false)]
    [InlineData(true, true, true)]
    public async Task A_peer_written_from_the_document_joins_exchanges_and_leaves(bool pings, bool peersAfterWelcome, bool refuseData)
    {
        await using var cluster = new TestCluster { Insecure = true };
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false });
        using var events = new EventProbe(a);
        using var peer = new DocumentedPeer(cluster.Name, "zed", nodeEndpoint: a.Endpoint)
            { SendPings = pings, SendPeersAfterWelcome = peersAfterWelcome, RefuseDataConnections = refuseData };
        try
        {
            peer.Start();
            await a.WaitForPeersAsync(["zed"], T);
            await peer.WaitUntil(() => peer.Connected, T, "peer connected (WELCOME + PUB_PROBE + SUB_READY)");

            // Unicast node -> peer, acknowledged by the peer.
            await a.SendAsync("zed", "hi");
            await peer.WaitUntil(() => !peer.Received.IsEmpty, T, "DATA 'hi' from node");
            Assert.Equal("hi", peer.Received.First().Text);
            var acked = a.SendAsync("zed", "hi2", null, requireAck: true);
            await acked.WaitAsync(T);
            Assert.Equal(["hi", "hi2"], peer.Received.Select(r => r.Text));

            // Unicast peer -> node, in order, one frame with two records.
            peer.Enqueue(p => p.SendData("one"));
            peer.Enqueue(p => p.SendData("two", "three"));
            var got = await TestCluster.ReadAsync(a, 3, T);
            Assert.Equal(["one", "two", "three"], got.Select(m => m.GetText()));
            Assert.All(got, m => Assert.Equal("zed", m.From));
            Assert.All(got, m => Assert.Equal(MessageKind.Unicast, m.Kind));
            await peer.WaitUntil(() => peer.AckedByNode >= 3, T, "ACK 3 from node");

            // Broadcasts both ways.
            await a.BroadcastAsync("from-a");
            await peer.WaitUntil(() => !peer.Broadcasts.IsEmpty, T, "BROADCAST from node");
            Assert.Equal("from-a", peer.Broadcasts.First().Text);
            peer.Enqueue(p => p.Broadcast("from-zed"));
            var b = await TestCluster.ReadAsync(a, 1, T);
            Assert.Equal("from-zed", b[0].GetText());
            Assert.Equal(MessageKind.Broadcast, b[0].Kind);
            Assert.Equal("zed", b[0].From);
            await peer.WaitUntil(() => peer.BroadcastAckedByNode >= 1, T, "BROADCAST_ACK from node");

            // More unicast from the node: now its data connection should carry it (unless refused).
            for (var i = 0; i < 5; i++) await a.SendAsync("zed", $"d{i}");
            var last = a.SendAsync("zed", "d5", null, requireAck: true);
            await last.WaitAsync(T);
            Assert.Equal(8, peer.Received.Count);
            Assert.Equal(["hi", "hi2", "d0", "d1", "d2", "d3", "d4", "d5"], peer.Received.Select(r => r.Text));
            output.WriteLine($"records via data port: {peer.DataPortRecords}");

            // Heartbeats: the node pings every 250 ms (HeartbeatInterval); 24 answered pings take 6 s, past its
            // PeerTimeout (4 s), through which it must not take the peer for unreachable.
            var answered = peer.PingsAnswered;
            await peer.WaitUntil(() => peer.PingsAnswered >= answered + 24, T, "24 more PINGs answered");
            Assert.DoesNotContain(events.Seen, e => e.Kind == "unreachable");

            // Leave.
            peer.Enqueue(p => p.Leave());
            await peer.WaitUntil(() => peer.LeaveAcked, T, "LEAVE_ACK");
            var left = await events.WaitAsync("left", "zed", T);
            Assert.Equal("left", left.Reason);
            output.WriteLine($"node stats: {a.Statistics}");
        }
        finally
        {
            foreach (var line in peer.Log) output.WriteLine(line);
        }
    }

    [Fact]
    public async Task A_beacon_written_from_the_document_is_accepted()
    {
        await using var cluster = new TestCluster { Insecure = true };
        var beaconPort = FreeUdpPort();
        var a = await cluster.StartAsync("a", o => o with { BeaconPort = beaconPort });
        using var peer = new DocumentedPeer(cluster.Name, "bea", nodeEndpoint: null);
        try
        {
            peer.Start();
            using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)) { EnableBroadcast = true };
            var datagram = peer.Beacon();
            await udp.SendAsync(datagram, datagram.Length, new IPEndPoint(IPAddress.Parse("127.255.255.255"), beaconPort));
            await a.WaitForPeersAsync(["bea"], T);
            await peer.WaitUntil(() => peer.Connected, T, "peer connected after beacon");
        }
        finally
        {
            foreach (var line in peer.Log) output.WriteLine(line);
        }
    }

    [Fact]
    public Task A_peer_written_from_the_document_counts_a_broadcast_lost_at_the_end_of_a_stream_by_its_tail() =>
        WithZedAsync(async (a, peer) =>
        {
            await a.BroadcastAsync("first");
            await peer.WaitUntil(() => peer.Broadcasts.Count == 1, T, "the first broadcast");
            a.Faults.LoseBroadcastFrames(1);
            await a.BroadcastAsync("lost on the way");
            await peer.WaitUntil(() => peer.BroadcastsMissed == 1, T, "BROADCAST_TAIL counting the lost broadcast");
            // It acknowledged the tail: the leave does not count the lost broadcast dropped a second time.
            await a.StopAsync();
            Assert.Equal(0, a.Statistics.MessagesDropped);
            Assert.Single(peer.Broadcasts);
        }, o => o with { LeaveTimeout = T });

    [Fact]
    public Task A_protocol_1_node_whose_session_a_peer_forgot_proves_its_subscription_again_before_it_says_SUB_READY() =>
        // Protocol 1's WELCOME does not tell a restarted peer from one that forgot the session: a stale SUB_READY
        // would tell a new process on the same ports that this node's subscription reaches it before it does.
        WithZedAsync(async (_, peer) =>
        {
            peer.Enqueue(p => p.ForgetNodeSession());
            await peer.WaitUntil(() => AfterReset(peer).Ready, T, "SUB_READY on the session made again");
            Assert.True(AfterReset(peer).ProbedFirst, "a said SUB_READY on its new session before its subscription heard a new PUB_PROBE");
        });

    // After the first RESET of the forgotten session: whether a SUB_READY came yet, and whether a SUB_PROBE came first.
    private static (bool Ready, bool ProbedFirst) AfterReset(DocumentedPeer peer)
    {
        var lines = peer.Log.ToArray();
        var reset = Array.FindIndex(lines, l => l.Contains("RESET (session forgotten)", StringComparison.Ordinal));
        if (reset < 0) return (false, false);
        var ready = Array.FindIndex(lines, reset + 1, l => l.Contains("<- ROUTER SUB_READY", StringComparison.Ordinal));
        if (ready < 0) return (false, false);
        return (true, lines[(reset + 1)..ready].Any(l => l.Contains("SUB_PROBE", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Datagrams_on_the_beacon_port_that_are_no_beacon_are_counted_and_logged()
    {
        await using var cluster = new TestCluster { Insecure = true };
        var beaconPort = FreeUdpPort();
        var log = new CapturingLoggerFactory();
        var a = await cluster.StartAsync("a", o => o with { BeaconPort = beaconPort, LoggerFactory = log });
        using var peer = new DocumentedPeer(cluster.Name, "bea", nodeEndpoint: null);
        try
        {
            peer.Start();
            var before = a.Statistics.FramesRejected;
            var beacon = peer.Beacon();
            byte[][] junk = [[1, 2, 3], "MSGRB"u8.ToArray(), beacon[..^1], [.. beacon, 0], [.. "MSGRB"u8, 9, 0]];
            using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)) { EnableBroadcast = true };
            var to = new IPEndPoint(IPAddress.Parse("127.255.255.255"), beaconPort);
            foreach (var datagram in junk) await udp.SendAsync(datagram, to);
            // One socket to one socket on loopback keeps the order: once the beacon after the junk is heard, so was the junk.
            await udp.SendAsync(beacon, to);
            await a.WaitForPeersAsync(["bea"], T);
            Assert.Equal(junk.Length, a.Statistics.FramesRejected - before);
            Assert.Contains(log.Lines, l => l.EventId == 1300 && l.Message.Contains("beacon from 127.0.0.1", StringComparison.Ordinal));
        }
        finally
        {
            foreach (var line in peer.Log) output.WriteLine(line);
        }
    }

    [Fact]
    public Task A_peer_written_from_the_document_sees_the_node_leave() =>
        WithZedAsync(async (a, peer) =>
        {
            await a.SendAsync("zed", "bye-soon");
            peer.Enqueue(p => p.SendData("x"));
            await TestCluster.ReadAsync(a, 1, T);
            await a.StopAsync();
            await peer.WaitUntil(() => peer.LeaveFromNode, T, "LEAVE from node");
        });

    [Fact]
    public Task A_leaving_node_delivers_nothing_that_comes_after_its_final_ACK() =>
        // The peer counts as dropped what the leaving node's last ACK leaves out: DATA that arrives after it, here
        // sent between the node's LEAVE and the peer's LEAVE_ACK, was delivered all the same.
        WithZedAsync(async (a, peer) =>
        {
            peer.Enqueue(p => p.SendData("in time"));
            Assert.Equal("in time", (await TestCluster.ReadAsync(a, 1, T))[0].GetText());
            await a.StopAsync();
            Assert.True(peer.LeaveFromNode, "no LEAVE from the node");
            Assert.Equal(1, peer.AckedByNode);
            Assert.False(a.TryRead(out var late), $"a delivered '{late?.GetText()}' after its final ACK");
        }, o => o with { LeaveTimeout = T }, dataBeforeLeaveAck: "too late");

    [Fact]
    public Task A_LEAVE_ACK_for_no_LEAVE_is_rejected_and_the_leave_still_waits_for_the_real_one()
    {
        var log = new CapturingLoggerFactory();
        // zed answers the node's LEAVE only after a round trip of its own: the leave must wait for that.
        return WithZedAsync(async (a, peer) =>
        {
            peer.Enqueue(p => { p.SendUnaskedLeaveAck(); p.SendUnaskedLeaveAck(); });
            await log.Written.UntilAsync(() => log.Lines.Count(l => l.Message.Contains("LEAVE_ACK for no LEAVE", StringComparison.Ordinal)) == 2,
                () => log.All, T);
            await a.StopAsync();
            Assert.True(peer.LeaveFromNode, "no LEAVE from the node");
            Assert.Contains(peer.Log, l => l.EndsWith("-> ROUTER LEAVE_ACK", StringComparison.Ordinal));
        }, o => o with { LeaveTimeout = T, LoggerFactory = log }, dataBeforeLeaveAck: "crossed");
    }

    /// <summary>Node "a" of an insecure cluster, without a beacon (<paramref name="configure"/> changes more), and
    /// zed, a peer written from the document, linked to it (<paramref name="dataBeforeLeaveAck"/>: see
    /// <see cref="DocumentedPeer.DataBeforeLeaveAck"/>). <paramref name="test"/> runs once a counts zed connected;
    /// zed's log goes to the test's output whatever happens.</summary>
    private async Task WithZedAsync(Func<MessengerNode, DocumentedPeer, Task> test,
        Func<MessengerNodeOptions, MessengerNodeOptions>? configure = null, string? dataBeforeLeaveAck = null)
    {
        await using var cluster = new TestCluster { Insecure = true };
        var a = await cluster.StartAsync("a", o => configure is null ? o with { BeaconEnabled = false } : configure(o with { BeaconEnabled = false }));
        using var peer = new DocumentedPeer(cluster.Name, "zed", nodeEndpoint: a.Endpoint) { DataBeforeLeaveAck = dataBeforeLeaveAck };
        try
        {
            peer.Start();
            await a.WaitForPeersAsync(["zed"], T);
            await test(a, peer);
        }
        finally
        {
            foreach (var line in peer.Log) output.WriteLine(line);
        }
    }

    private static int FreeUdpPort()
    {
        using var s = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.Client.LocalEndPoint!).Port;
    }
}
