using System.Diagnostics;
using System.Text;
using Messenger.Protocol;
using Messenger.Security;
using Messenger.Tests.Support;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Security;

/// <summary>Strangers with raw NetMQ sockets try to get in, read, or disturb; members keep talking throughout.</summary>
public sealed class AttackTests
{
    private static async Task<(TestCluster Cluster, MessengerNode A, MessengerNode B, CapturingLoggerFactory Log)> MembersAsync()
    {
        var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { LoggerFactory = log });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await b.WaitForPeersAsync(["a"], TestCluster.Timeout);
        return (cluster, a, b, log);
    }

    private static async Task AssertMembersStillTalkAsync(MessengerNode a, MessengerNode b, string text)
    {
        await a.SendAsync("b", text);
        var m = Assert.Single(await TestCluster.ReadAsync(b, 1));
        Assert.Equal((text, "a"), (m.GetText(), m.From));
        Assert.False(b.TryRead(out var extra), $"nothing else was delivered, but got {extra}");
    }

    [Fact]
    public async Task A_plaintext_stranger_is_refused_and_delivers_nothing()
    {
        var (cluster, a, b, log) = await MembersAsync();
        await using var _ = cluster;
        using var raw = new DealerSocket();
        raw.Options.Linger = TimeSpan.Zero;
        raw.Connect(b.Endpoint);
        raw.SendFrame(ControlFrames.Hello(new HelloFrame(cluster.Name, NodeId.NewRandom(), "a", "127.0.0.1", 1, 2, Guid.NewGuid(), Guid.NewGuid())));
        Assert.True(raw.TryReceiveFrameBytes(TestCluster.Timeout, out var refuse));
        Assert.Equal(RefuseCode.UnsupportedVersion, ControlFrames.ReadRefuse(refuse!).Code);
        // Plaintext DATA is dropped; a sealed frame without a session is answered RESET. Nothing is delivered.
        raw.SendFrame([0x4D, 0x01, (byte)FrameType.Data, 1, 0, 0, 0]);
        raw.SendFrame([0x4D, 0x02, (byte)FrameType.Sealed, 1, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
        Assert.True(raw.TryReceiveFrameBytes(TestCluster.Timeout, out var reset));
        Assert.Equal(FrameType.Reset, Wire.ReadEnvelope(reset!));
        Assert.True(b.Statistics.HandshakesRefused >= 1);
        Assert.True(b.Statistics.FramesRejected >= 1);
        Assert.True(log.Contains(1200, "requires encrypted links"), log.All);
        await AssertMembersStillTalkAsync(a, b, "after the plaintext stranger");
    }

    [Fact]
    public async Task A_curve_client_with_a_random_key_gets_nothing_through()
    {
        var (cluster, a, b, _) = await MembersAsync();
        await using var __ = cluster;
        using var raw = new DealerSocket();
        raw.Options.Linger = TimeSpan.Zero;
        var server = new NetMQCertificate();
        raw.Options.CurveServerKey = server.PublicKey;
        raw.Options.CurveCertificate = new NetMQCertificate();
        raw.Connect(b.Endpoint);
        raw.SendFrame([0x4D, 0x02, (byte)FrameType.Sealed, 1, 2, 3]);
        Assert.False(raw.TryReceiveFrameBytes(TimeSpan.FromMilliseconds(300), out _), "a CURVE client cannot speak to a node");
        await AssertMembersStillTalkAsync(a, b, "after the curve client");
    }

    [Fact]
    public async Task A_stranger_without_the_cluster_key_claiming_a_members_name_is_refused()
    {
        var (cluster, a, b, log) = await MembersAsync();
        await using var _ = cluster;
        using var stranger = new RawSecureClient(b.Endpoint);
        stranger.Hello(cluster.Name, ClusterKey.Generate().Bytes, MessengerKeyPair.Generate());
        var answer = stranger.Finish(stranger.Receive(), "a");
        var refuse = ControlFrames.ReadRefuse(answer);
        Assert.Equal(RefuseCode.ClusterKeyMismatch, refuse.Code);
        Assert.Contains("cluster key", refuse.Reason);
        Assert.True(log.Contains(1200, "cluster key does not match"), log.All);
        Assert.Equal(PeerState.Connected, b.GetPeer("a")!.State);
        Assert.Equal(a.Id, b.GetPeer("a")!.Id);
        await AssertMembersStillTalkAsync(a, b, "after the forged hello");
    }

    [Fact]
    public async Task A_member_key_holder_cannot_take_a_connected_members_name()
    {
        var (cluster, a, b, _) = await MembersAsync();
        await using var __ = cluster;
        using var impostor = new RawSecureClient(b.Endpoint);
        impostor.Hello(cluster.Name, cluster.Key.Bytes, MessengerKeyPair.Generate());
        var answer = impostor.Finish(impostor.Receive(), "a");
        Assert.Equal(RefuseCode.NameInUse, ControlFrames.ReadRefuse(answer).Code);
        Assert.Equal(a.Id, b.GetPeer("a")!.Id);
        await AssertMembersStillTalkAsync(a, b, "after the impostor");
    }

    [Fact]
    public async Task A_replayed_handshake_fails()
    {
        var (cluster, a, b, _) = await MembersAsync();
        await using var __ = cluster;
        // A real session, recorded: the test holds the cluster key, as an eavesdropper would not even need to.
        var recorded = new List<byte[]>();
        using (var member = new RawSecureClient(b.Endpoint))
        {
            member.Hello(cluster.Name, cluster.Key.Bytes, MessengerKeyPair.Generate());
            var welcome = member.Finish(member.Receive(), "c");
            Assert.Equal(FrameType.Sealed, Wire.ReadEnvelope(welcome));
            recorded.AddRange(member.Sent);
        }
        using var replay = new DealerSocket();
        replay.Options.Linger = TimeSpan.Zero;
        replay.Connect(b.Endpoint);
        replay.SendFrame(recorded[0]);
        Assert.True(replay.TryReceiveFrameBytes(TestCluster.Timeout, out var message2));
        Assert.Equal(FrameType.Handshake, Wire.ReadEnvelope(message2!));
        replay.SendFrame(recorded[1]);
        Assert.True(replay.TryReceiveFrameBytes(TestCluster.Timeout, out var answer));
        Assert.Equal(RefuseCode.ClusterKeyMismatch, ControlFrames.ReadRefuse(answer!).Code);
        await AssertMembersStillTalkAsync(a, b, "after the replay");
    }

    [Fact]
    public async Task A_stranger_subscribed_to_a_publisher_reads_only_ciphertext()
    {
        var (cluster, a, b, _) = await MembersAsync();
        await using var __ = cluster;
        using var spy = new SubscriberSocket();
        spy.Options.Linger = TimeSpan.Zero;
        spy.SubscribeToAnyTopic();
        spy.Connect(a.PublishEndpoint);
        // Keep broadcasting until the spy's subscription is up and it has caught frames (slow joiner), bounded.
        var secret = "the secret plan " + Guid.NewGuid();
        var caught = new List<byte[]>();
        var keepTrying = Stopwatch.StartNew();
        while (caught.Count < 3 && (caught.Count == 0 || keepTrying.Elapsed < TimeSpan.FromSeconds(5)) && keepTrying.Elapsed < TestCluster.Timeout)
        {
            await a.BroadcastAsync(secret);
            while (spy.TryReceiveFrameBytes(TimeSpan.FromMilliseconds(caught.Count == 0 ? 25 : 5), out var frame)) caught.Add(frame!);
        }
        Assert.NotEmpty(caught);
        var needle = Encoding.UTF8.GetBytes(secret);
        foreach (var frame in caught)
        {
            Assert.Equal(FrameType.SealedBroadcast, Wire.ReadEnvelope(frame));
            Assert.True(frame.AsSpan().IndexOf(needle) < 0, "no plaintext on the wire");
        }
        Assert.Equal(secret, (await TestCluster.ReadAsync(b, 1))[0].GetText());
    }

    [Fact]
    public async Task Floods_of_half_open_handshakes_and_random_frames_leave_members_talking()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { MaxPendingHandshakes = 32 });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);

        var strangers = new List<RawSecureClient>();
        try
        {
            for (var i = 0; i < 100; i++)
            {
                var s = new RawSecureClient(b.Endpoint);
                s.Hello(cluster.Name, cluster.Key.Bytes, MessengerKeyPair.Generate()); // and never finish
                strangers.Add(s);
            }
            var random = new Random(99);
            using var noise = new DealerSocket();
            noise.Options.Linger = TimeSpan.Zero;
            noise.Connect(b.Endpoint);
            for (var i = 0; i < 5000; i++)
            {
                var f = new byte[random.Next(1, 200)];
                random.NextBytes(f);
                if (i % 3 == 0) { f[0] = 0x4D; if (f.Length > 1) f[1] = 0x02; }
                noise.SendFrame(f);
            }
            // Traffic between members while the flood is handled.
            for (var i = 0; i < 500; i++) await a.SendAsync("b", $"m{i}");
            var got = await TestCluster.ReadAsync(b, 500);
            Assert.Equal(Enumerable.Range(0, 500).Select(i => $"m{i}"), got.Select(m => m.GetText()));
            Assert.Equal(PeerState.Connected, a.GetPeer("b")!.State);
            Assert.Equal(PeerState.Connected, b.GetPeer("a")!.State);
            Assert.True(b.Statistics.HandshakesRefused >= 100 - 32, $"refused {b.Statistics.HandshakesRefused}: pending handshakes are bounded");
            Assert.False(b.TryRead(out _));
        }
        finally
        {
            foreach (var s in strangers) s.Dispose();
        }
    }
}
