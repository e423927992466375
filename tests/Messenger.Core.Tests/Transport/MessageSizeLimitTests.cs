using Messenger.Protocol;
using Messenger.Tests.Support;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Transport;

/// <summary>Nodes of one cluster may have different MaxMessageSize settings: a node tells its own in WELCOME, its
/// peers refuse a larger body when it is sent, and a larger body that arrives all the same is dropped alone, counted
/// and raised, never acknowledged as if delivered while its batch is lost.</summary>
public sealed class MessageSizeLimitTests
{
    private static readonly TimeSpan Wait = TestCluster.Timeout;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_body_over_the_peers_MaxMessageSize_is_refused_when_sent_naming_that_peer(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var a = await cluster.StartAsync("a", o => o with { MaxMessageSize = 4096 });
        var b = await cluster.StartAsync("b", o => o with { MaxMessageSize = 1024 });
        await a.WaitForPeersAsync(["b"], Wait);
        await b.WaitForPeersAsync(["a"], Wait);
        Assert.Equal((1024, 4096), (a.GetPeer("b")!.MaxMessageSize, b.GetPeer("a")!.MaxMessageSize));

        var unicast = await Assert.ThrowsAsync<MessageTooLargeException>(async () => await a.SendAsync("b", new byte[2000]));
        Assert.Equal(("MessageTooLarge", 2000, 1024, "b"), (unicast.ErrorId, unicast.Size, unicast.Limit, unicast.Peer));
        Assert.Contains("'b'", unicast.Message, StringComparison.Ordinal);
        var acknowledged = await Assert.ThrowsAsync<MessageTooLargeException>(() => a.SendAsync("b", new byte[2000], MessageContentType.Binary, null, requireAck: true));
        Assert.Equal("b", acknowledged.Peer);
        await Assert.ThrowsAsync<MessageTooLargeException>(async () => await a.SendManyAsync("b", new OutgoingMessage[] { new(new byte[10]), new(new byte[1025]) }));
        var broadcast = await Assert.ThrowsAsync<MessageTooLargeException>(async () => await a.BroadcastAsync(new byte[1025]));
        Assert.Equal(("b", 1024), (broadcast.Peer, broadcast.Limit));
        var own = await Assert.ThrowsAsync<MessageTooLargeException>(async () => await b.SendAsync("a", new byte[1025]));
        Assert.Equal((1024, (string?)null), (own.Limit, own.Peer));
        Assert.Equal(0, a.Statistics.MessagesSent);

        // At the limit, both ways, acknowledged as well.
        await a.SendAsync("b", new byte[1024], MessageContentType.Binary, null, requireAck: true);
        await a.BroadcastAsync(new byte[1024]);
        await b.SendAsync("a", new byte[1024]);
        var atB = await TestCluster.ReadAsync(b, 2);
        Assert.Equal([(MessageKind.Unicast, 1024), (MessageKind.Broadcast, 1024)], atB.Select(m => (m.Kind, m.Body.Length)).OrderBy(k => k.Kind));
        Assert.Equal(1024, (await TestCluster.ReadAsync(a, 1))[0].Body.Length);
        Assert.Equal((0L, 0L), (a.Statistics.MessagesDropped, b.Statistics.MessagesDropped));
    }

    [Fact]
    public async Task A_peer_that_leaves_no_longer_limits_broadcasts()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { MaxMessageSize = 4096 });
        var b = await cluster.StartAsync("b", o => o with { MaxMessageSize = 1024 });
        var c = await cluster.StartAsync("c", o => o with { MaxMessageSize = 4096 });
        await a.WaitForPeersAsync(["b", "c"], Wait);
        await Assert.ThrowsAsync<MessageTooLargeException>(async () => await a.BroadcastAsync(new byte[2000]));

        using var events = new EventProbe(a);
        await b.DisposeAsync();
        await events.WaitAsync("left", "b");
        await a.BroadcastAsync(new byte[2000]);
        Assert.Equal(2000, (await TestCluster.ReadAsync(c, 1))[0].Body.Length);
    }

    [Fact]
    public async Task A_record_over_MaxMessageSize_that_arrives_is_dropped_alone_counted_and_raised()
    {
        await using var cluster = new TestCluster();
        var b = await cluster.StartAsync("b", o => o with { BeaconEnabled = false, MaxMessageSize = 1024, Insecure = true });
        var dropped = new TaskCompletionSource<MessageDroppedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.MessageDropped += (_, e) => dropped.TrySetResult(e);
        using var raw = Greet(b, cluster);

        // One batch: a record at the limit, one over it, one after it. Then a frame of its own with the next.
        raw.SendFrame(Batch(0, (1, new byte[1024]), (2, new byte[1025]), (3, "three"u8.ToArray())));
        raw.SendFrame(Batch(0, (4, "four"u8.ToArray())));

        var read = await TestCluster.ReadAsync(b, 3);
        Assert.Equal([1L, 3L, 4L], read.Select(m => m.Sequence));
        var e = await dropped.Task.WaitAsync(Wait);
        Assert.Equal((2L, 1025, "raw"), (e.Message!.Sequence, e.Message.Body.Length, e.Peer));
        Assert.Contains("MaxMessageSize", e.Reason, StringComparison.Ordinal);
        Assert.Equal((1L, 0L, 0L), (b.Statistics.MessagesDropped, b.Statistics.FramesRejected, b.Statistics.Restarts));

        // The dropped message took its sequence number: it is acknowledged, and it is no gap.
        raw.SendFrame(ControlFrames.Timestamped(FrameType.Ping, 1));
        var acked = 0L;
        byte[]? answer;
        do
        {
            Assert.True(raw.TryReceiveFrameBytes(Wait, out answer), "no PONG");
            if (Wire.ReadHeader(answer!) == FrameType.Ack) acked = ControlFrames.ReadAck(answer!);
        }
        while (Wire.ReadHeader(answer!) != FrameType.Pong || acked < 4);
        Assert.Equal(4, acked);
    }

    [Fact]
    public async Task A_frame_over_the_sockets_limit_ends_that_connection_and_the_node_keeps_working()
    {
        await using var cluster = new TestCluster { Insecure = true };
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { MaxMessageSize = 1024 });
        await a.WaitForPeersAsync(["b"], Wait);
        using var raw = Greet(b, cluster);

        // 256 KiB: more than the largest frame a node with MaxMessageSize 1024 takes (64 KiB and a little). ZeroMQ
        // ends the connection when the frame's size arrives, and the DEALER reconnects. A PING sent meanwhile may be
        // lost with the old connection, so it is sent again until one is answered: on the new connection, which has
        // no session, with RESET, never with the PONG of the old session.
        raw.SendFrame(Batch(0, (1, new byte[256 * 1024])));
        var deadline = DateTime.UtcNow + Wait;
        byte[]? answer = null;
        while (answer is null && DateTime.UtcNow < deadline)
        {
            raw.SendFrame(ControlFrames.Timestamped(FrameType.Ping, 1));
            while (raw.TryReceiveFrameBytes(TimeSpan.FromSeconds(1), out answer) && Wire.ReadHeader(answer!) == FrameType.Peers)
            {
                // the PEERS that follows WELCOME
            }
        }
        Assert.NotNull(answer);
        Assert.Equal(FrameType.Reset, Wire.ReadHeader(answer));

        await a.SendAsync("b", "still here");
        Assert.Equal("still here", (await TestCluster.ReadAsync(b, 1))[0].GetText());
        Assert.Equal((0L, 0L), (b.Statistics.Restarts, b.Statistics.MessagesDropped));
        Assert.False(b.TryRead(out var extra), $"nothing else, but got {extra}");
    }

    /// <summary>A raw DEALER that says HELLO as a node named "raw", and has its WELCOME, which tells the node's limit.</summary>
    private static DealerSocket Greet(MessengerNode b, TestCluster cluster)
    {
        var raw = RawPlainPeer.Greet(b, cluster, NodeId.NewRandom(), out var welcome);
        Assert.Equal(b.Options.MaxMessageSize, ControlFrames.ReadWelcome(welcome, secure: false).MaxMessageSize);
        return raw;
    }

    private static byte[] Batch(long ack, params (long Sequence, byte[] Body)[] records) => RawPlainPeer.Batch(ack, records);
}
