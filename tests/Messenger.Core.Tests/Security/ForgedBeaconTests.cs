using System.Net;
using System.Net.Sockets;
using Messenger.Discovery;
using Messenger.Protocol;
using Messenger.Security;
using Messenger.Security.Noise;
using Messenger.Tests.Support;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Security;

/// <summary>A beacon is one unauthenticated UDP datagram: anyone on the subnet can announce any name, any id, any
/// key (a node's public key is in its own beacons) at any address. At most it costs a failed handshake: it moves no
/// proven peer, takes no member's name, and fills no member's place.</summary>
public sealed class ForgedBeaconTests
{
    [Fact]
    public async Task A_forged_beacon_does_not_move_an_unreachable_member_to_a_strangers_address()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { PeerTimeout = TimeSpan.FromSeconds(1) });
        var bKey = MessengerKeyPair.Generate();
        var b = await cluster.StartAsync("b", o => o with { KeyPair = bKey });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        using var probe = new EventProbe(a);
        b.InjectHangForTests(TimeSpan.FromSeconds(3));
        await probe.WaitAsync("unreachable", "b");
        await a.SendAsync("b", "kept for b");

        // b's id and key, a stranger's address, which would answer a's HELLO with a key of its own.
        using var stranger = new RouterSocket();
        stranger.Options.Linger = TimeSpan.Zero;
        var port = stranger.BindRandomPort("tcp://127.0.0.1");
        await SendBeaconAsync(Forged(cluster.Name, bKey, "b", port));
        await WaitUntilHeardAsync(a, cluster.Name);

        await probe.WaitAsync("joined", "b");
        Assert.Equal("kept for b", (await TestCluster.ReadAsync(b, 1))[0].GetText());
        Assert.Equal(b.Id, a.GetPeer("b")!.Id);
        Assert.DoesNotContain(probe.Seen, e => e.Kind == "left");
        var hello = new NetMQMessage();
        Assert.False(stranger.TryReceiveMultipartMessage(TimeSpan.FromMilliseconds(200), ref hello), "a greeted the stranger's address as b");
    }

    [Fact]
    public async Task A_strangers_answer_at_a_forged_address_does_not_shut_the_real_node_out()
    {
        // b is not known to a yet. A beacon gives b's id and key at a stranger's address, and the stranger answers
        // a's HELLO with Noise message 2 under its own key: XXpsk3 mixes the cluster key in only at message 3.
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var bKey = MessengerKeyPair.Generate();
        using var stranger = new RouterSocket();
        stranger.Options.Linger = TimeSpan.Zero;
        var port = stranger.BindRandomPort("tcp://127.0.0.1");
        await SendBeaconAsync(Forged(cluster.Name, bKey, "b", port));
        var hello = new NetMQMessage();
        Assert.True(stranger.TryReceiveMultipartMessage(TestCluster.Timeout, ref hello), "a sent no HELLO to the forged address");
        Assert.True(ControlFrames.TryReadSecureHello(hello[1].Buffer, out _, out var message1));
        using var strangerKey = NoiseKeyPair.FromPrivateKey(MessengerKeyPair.Generate().PrivateKey);
        using var responder = NoiseHandshakeState.Initialize(MessengerHandshake.Protocol, false, MessengerHandshake.Prologue(cluster.Name), s: strangerKey, psks: [new byte[32]]);
        responder.ReadMessage(message1.ToArray());
        var message2 = responder.WriteMessage(ControlFrames.Payload(new HandshakePayload("b", "127.0.0.1", port, port, null)));
        stranger.SendMoreFrame(hello[0].Buffer).SendFrame(ControlFrames.Handshake(message2));
        await WaitUntilAsync(() => a.GetPeer("b") is null, "a kept the link to the stranger");

        var b = await cluster.StartAsync("b", o => o with { KeyPair = bKey, BeaconEnabled = false });
        await b.ConnectAsync(a.Endpoint, TestCluster.Timeout);
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
    }

    [Fact]
    public async Task A_nodes_own_beacon_moves_a_link_its_HELLO_gave_an_address_that_does_not_reach_it()
    {
        // A host on two subnets names one in its HELLO, and may be reached only at the other: its beacon says where.
        // Here b listens on 127.0.0.1 alone and names 127.0.0.2, where nothing listens.
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var bKey = MessengerKeyPair.Generate();
        var b = await cluster.StartAsync("b", o => o with { KeyPair = bKey, BeaconEnabled = false, BindAddress = "127.0.0.1", AdvertisedHost = "127.0.0.2" });
        _ = b.ConnectAsync(a.Endpoint, TestCluster.Timeout);
        await WaitUntilAsync(() => a.GetPeer("b") is not null, "b's HELLO never reached a");

        await SendBeaconAsync(new BeaconAnnouncement(cluster.Name, NodeId.FromPublicKey(bKey.PublicKeyBytes), "b", b.Port, b.PublishPort, bKey.PublicKeyBytes));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await b.WaitForPeersAsync(["a"], TestCluster.Timeout);
    }

    [Fact]
    public async Task A_two_subnet_node_that_restarts_on_new_ports_is_reached_again_through_its_beacon()
    {
        // As above, b names 127.0.0.2 in its HELLO and is reached at 127.0.0.1 alone. a's link to b1 was welcomed
        // there; b2's HELLO moves it to the address b2 names, and b2's beacon must be able to move it on.
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", TestCluster.Patient);
        var bKey = MessengerKeyPair.Generate();
        MessengerNodeOptions B(MessengerNodeOptions o) => o with { KeyPair = bKey, BindAddress = "127.0.0.1", AdvertisedHost = "127.0.0.2" };
        var b1 = await cluster.StartAsync("b", B);
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await b1.AbandonForTestsAsync();
        await WaitUntilAsync(() => a.GetPeer("b")?.State == PeerState.Unreachable, "a never noticed b1 go");

        var b2 = await cluster.StartAsync("b", B);
        await b2.WaitForPeersAsync(["a"], TestCluster.Timeout);
        await a.SendAsync("b", "to b2", topic: null, requireAck: true);
        Assert.Equal("to b2", (await TestCluster.ReadAsync(b2, 1))[0].GetText());
    }

    [Fact]
    public async Task A_forged_beacon_takes_no_members_name()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        await SendBeaconAsync(Forged(cluster.Name, MessengerKeyPair.Generate(), "b", TestCluster.FreeTcpPort()));
        await WaitUntilAsync(() => a.GetPeer("b") is not null, "the forged b never appeared");

        // The real b proves itself; the forged one never did.
        var b = await cluster.StartAsync("b", o => o with { BeaconEnabled = false });
        await b.ConnectAsync(a.Endpoint, TestCluster.Timeout);
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        Assert.Equal(b.Id, a.GetPeer("b")!.Id);
    }

    [Fact]
    public async Task A_forged_beacon_cannot_give_a_real_node_another_name()
    {
        // b announces nothing itself; its id, key and ports are public. A beacon names it 'evil'.
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var bKey = MessengerKeyPair.Generate();
        var b = await cluster.StartAsync("b", o => o with { KeyPair = bKey, BeaconEnabled = false });
        await SendBeaconAsync(new BeaconAnnouncement(cluster.Name, NodeId.FromPublicKey(bKey.PublicKeyBytes), "evil", b.Port, b.PublishPort, bKey.PublicKeyBytes));
        await WaitUntilHeardAsync(a, cluster.Name);

        await b.ConnectAsync(a.Endpoint, TestCluster.Timeout);
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        Assert.Null(a.GetPeer("evil"));
        Assert.Equal(b.Id, a.GetPeer("b")!.Id);
    }

    [Fact]
    public async Task A_forged_beacon_does_not_evict_a_briefly_unreachable_member_by_name()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { PeerTimeout = TimeSpan.FromSeconds(1) });
        var b = await cluster.StartAsync("b");
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        using var probe = new EventProbe(a);
        b.InjectHangForTests(TimeSpan.FromSeconds(3));
        await probe.WaitAsync("unreachable", "b");

        await SendBeaconAsync(Forged(cluster.Name, MessengerKeyPair.Generate(), "b", TestCluster.FreeTcpPort()));
        await WaitUntilHeardAsync(a, cluster.Name);

        await probe.WaitAsync("joined", "b");
        Assert.Equal(b.Id, a.GetPeer("b")!.Id);
        Assert.DoesNotContain(probe.Seen, e => e.Kind == "left");
    }

    [Fact]
    public async Task Forged_beacons_that_fill_the_peer_table_keep_no_member_out()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { MaxPeers = 4 });
        var port = TestCluster.FreeTcpPort();
        for (var i = 0; i < 4; i++) await SendBeaconAsync(Forged(cluster.Name, MessengerKeyPair.Generate(), $"ghost{i}", port));
        await WaitUntilAsync(() => a.GetPeers().Count == 4, "the forged peers never appeared");

        var b = await cluster.StartAsync("b", o => o with { BeaconEnabled = false });
        await b.ConnectAsync(a.Endpoint, TestCluster.Timeout);
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        Assert.Equal(4, a.GetPeers().Count);
    }

    [Fact]
    public async Task A_forged_publish_port_does_not_put_a_stranger_between_a_member_and_its_broadcasts()
    {
        // b's id, key, name and unicast port (a's handshake with b succeeds), and a stranger's publish port. The
        // stranger subscribes to b and passes on what b publishes (its probes among it) until the test's broadcast,
        // which it keeps: a SUB left on the stranger's publisher would have proven the subscription and then heard
        // nothing, with no gap to count.
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var bKey = MessengerKeyPair.Generate();
        var b = await cluster.StartAsync("b", o => o with { KeyPair = bKey, BeaconEnabled = false });
        using var strangerPub = new PublisherSocket();
        strangerPub.Options.Linger = TimeSpan.Zero;
        var strangerPort = strangerPub.BindRandomPort("tcp://127.0.0.1");
        using var strangerSub = new SubscriberSocket();
        strangerSub.Options.Linger = TimeSpan.Zero;
        strangerSub.Connect($"tcp://127.0.0.1:{b.PublishPort}");
        strangerSub.SubscribeToAnyTopic();
        var passing = true;
        using var stop = new CancellationTokenSource();
        var relay = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (strangerSub.TryReceiveFrameBytes(TimeSpan.FromMilliseconds(50), out var frame) && Volatile.Read(ref passing)) strangerPub.SendFrame(frame);
            }
        });
        try
        {
            await SendBeaconAsync(new BeaconAnnouncement(cluster.Name, NodeId.FromPublicKey(bKey.PublicKeyBytes), "b", b.Port, strangerPort, bKey.PublicKeyBytes));
            await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
            await b.WaitForPeersAsync(["a"], TestCluster.Timeout);
            Assert.Equal(b.PublishEndpoint, a.GetPeer("b")!.PublishEndpoint);

            Volatile.Write(ref passing, false);
            await b.BroadcastAsync("for every member");
            Assert.Equal("for every member", (await TestCluster.ReadAsync(a, 1))[0].GetText());
        }
        finally
        {
            stop.Cancel();
            await relay;
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_forged_beacon_that_gives_the_nodes_own_address_is_followed_once(bool insecure)
    {
        // Anyone may announce a new node at this node's own ports: the link meets the node itself (insecure: it
        // refuses itself, SelfConnection; secure: the handshake proves this node's key). Followed at every beacon,
        // the forger would set the pace of failed handshakes and of error lines.
        await using var cluster = new TestCluster { Insecure = insecure };
        var log = new CapturingLoggerFactory();
        var a = await cluster.StartAsync("a", o => o with { LoggerFactory = log });
        BeaconAnnouncement Mirror() => insecure
            ? new(cluster.Name, NodeId.NewRandom(), "mirror", a.Port, a.PublishPort, null)
            : Forged(cluster.Name, MessengerKeyPair.Generate(), "mirror", a.Port);
        var mirror = Mirror();
        await SendBeaconAsync(mirror);
        await log.Written.UntilAsync(() => log.Lines.Any(l => l.EventId == 1100 && l.Message.StartsWith("Peer mirror", StringComparison.Ordinal) && l.Message.Contains("Gone", StringComparison.Ordinal)),
            () => log.All, TestCluster.Timeout);
        await SendBeaconAsync(mirror);
        await SendBeaconAsync(Mirror());
        await WaitUntilHeardAsync(a, cluster.Name, insecure);
        Assert.Single(log.Lines, l => l.EventId == 1101 && l.Message.Contains("mirror", StringComparison.Ordinal));
        Assert.Null(a.GetPeer("mirror"));
    }

    private static BeaconAnnouncement Forged(string cluster, MessengerKeyPair key, string name, int port) =>
        new(cluster, NodeId.FromPublicKey(key.PublicKeyBytes), name, port, TestCluster.FreeTcpPort(), key.PublicKeyBytes);

    private static async Task SendBeaconAsync(BeaconAnnouncement beacon)
    {
        using var udp = new UdpClient(AddressFamily.InterNetwork) { EnableBroadcast = true };
        await udp.SendAsync(beacon.Encode(), new IPEndPoint(IPAddress.Parse("127.255.255.255"), MessengerNodeOptions.Default.BeaconPort));
    }

    /// <summary>Beacons are read in order: once a marker sent after the forged beacon is in the table, so was the
    /// forged beacon read.</summary>
    private static async Task WaitUntilHeardAsync(MessengerNode node, string cluster, bool insecure = false)
    {
        var marker = $"marker-{Guid.NewGuid():N}"[..20];
        await SendBeaconAsync(insecure
            ? new(cluster, NodeId.NewRandom(), marker, TestCluster.FreeTcpPort(), TestCluster.FreeTcpPort(), null)
            : Forged(cluster, MessengerKeyPair.Generate(), marker, TestCluster.FreeTcpPort()));
        await WaitUntilAsync(() => node.GetPeer(marker) is not null, "the marker beacon was never heard");
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(TestCluster.Timeout);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        while (!condition())
        {
            Assert.False(deadline.IsCancellationRequested, what);
            await timer.WaitForNextTickAsync();
        }
    }
}
