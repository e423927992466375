using System.Text;
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
        var b = await cluster.StartAsync("b", o => o with { BeaconEnabled = false, MaxMessageSize = 1024, Insecure = true, ClusterKey = null });
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

    [Fact]
    public async Task A_message_queued_before_the_peers_WELCOME_and_over_its_limit_is_withdrawn_in_place()
    {
        await using var cluster = new TestCluster { Insecure = true };
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false });
        var dropped = new TaskCompletionSource<MessageDroppedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.MessageDropped += (_, e) => dropped.TrySetResult(e);
        using var peer = HandPlayedPeer.Greet(a, cluster);

        // Queued while a knows nothing of raw's limit: a body over it between two that fit, one of them acknowledged.
        await a.SendAsync("raw", "before");
        var acknowledged = a.SendAsync("raw", new byte[200 * 1024], MessageContentType.Binary, "big", requireAck: true);
        await a.SendAsync("raw", "after");
        peer.Welcome(maxMessageSize: 1024);

        var error = await Assert.ThrowsAsync<MessageTooLargeException>(() => acknowledged.WaitAsync(Wait));
        Assert.Equal((204800, 1024, "raw"), (error.Size, error.Limit, error.Peer));
        var e = await dropped.Task.WaitAsync(Wait);
        Assert.Equal(("raw", 1L), (e.Peer, e.Count));
        Assert.Contains("#2 of 204800 bytes", e.Reason, StringComparison.Ordinal);
        Assert.Equal(1, a.Statistics.MessagesDropped);

        // On the wire: the three records in order, the middle one flagged withdrawn, with no topic and no body.
        var records = peer.ReadRecords(3);
        Assert.Equal([1L, 2L, 3L], records.Select(r => r.Sequence));
        Assert.Equal([false, true, false], records.Select(r => r.Withdrawn));
        Assert.Equal(("before", "after"), (Encoding.UTF8.GetString(records[0].Body.Span), Encoding.UTF8.GetString(records[2].Body.Span)));
        Assert.Equal((0, (string?)null, true), (records[1].Body.Length, records[1].Topic, records[1].AckNow));
    }

    [Fact]
    public async Task A_send_that_waits_for_room_while_the_peers_WELCOME_tells_a_smaller_limit_fails_when_it_gets_room()
    {
        await using var cluster = new TestCluster { Insecure = true };
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false, SendQueueLimitBytes = 64 * 1024 });
        using var peer = HandPlayedPeer.Greet(a, cluster);

        // Over half the queue's limit, then a body checked against no known limit, which waits for room.
        for (var i = 0; i < 40; i++) await a.SendAsync("raw", new byte[1000]);
        var big = a.SendAsync("raw", new byte[200 * 1024], MessageContentType.Binary, null, requireAck: true);
        Assert.False(big.IsCompleted, "the 200 KiB send should wait for room");
        peer.Welcome(maxMessageSize: 1024);

        // The 40 fit the limit and go; acknowledged, they make room, and the waiting send meets the limit.
        var records = peer.ReadRecords(40, acknowledge: true);
        Assert.Equal(Enumerable.Range(1, 40).Select(n => (long)n), records.Select(r => r.Sequence));
        var error = await Assert.ThrowsAsync<MessageTooLargeException>(() => big.WaitAsync(Wait));
        Assert.Equal((204800, 1024, "raw"), (error.Size, error.Limit, error.Peer));
        await a.SendAsync("raw", "next");
        Assert.Equal([(41L, false, 4)], peer.ReadRecords(1).Select(r => (r.Sequence, r.Withdrawn, r.Body.Length)));
    }

    [Fact]
    public async Task A_body_larger_than_half_the_send_queue_waits_for_room_without_holding_its_caller()
    {
        await using var cluster = new TestCluster { Insecure = true };
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false, SendQueueLimitBytes = 64 * 1024 });
        using var peer = HandPlayedPeer.Greet(a, cluster);

        // One small message queued (the link waits for its WELCOME), then a body that does not fit beside it. The
        // call returns at once with the send pending (it used to retry on the caller's thread, a core busy, until
        // the queue emptied).
        await a.SendAsync("raw", "small");
        var pending = await Task.Factory.StartNew(() => a.SendAsync("raw", new byte[100 * 1024]).AsTask()).WaitAsync(Wait);
        Assert.False(pending.IsCompleted, "the 100 KiB send should wait for room");

        peer.Welcome(maxMessageSize: 1024 * 1024);
        Assert.Equal([1L], peer.ReadRecords(1, acknowledge: true).Select(r => r.Sequence));
        await pending.WaitAsync(Wait);
        Assert.Equal([(2L, 100 * 1024)], peer.ReadRecords(1).Select(r => (r.Sequence, r.Body.Length)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Small_messages_queued_after_one_at_the_limit_travel_in_frames_of_their_own(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b");
        await a.WaitForPeersAsync(["b"], Wait);

        // A body at b's limit (1 MiB) rents a 2 MiB buffer. The 100 after it used to fill that buffer, making a
        // frame over the largest b takes at all: ZeroMQ then ended the connection each time it was sent again.
        var run = new List<OutgoingMessage> { new(new byte[b.Options.MaxMessageSize]) };
        for (var i = 0; i < 100; i++) run.Add(new OutgoingMessage(new byte[1000]));
        await a.SendManyAsync("b", run.ToArray());

        var got = await TestCluster.ReadAsync(b, 101);
        Assert.Equal(Enumerable.Range(1, 101).Select(n => (long)n), got.Select(m => m.Sequence));
        Assert.Equal(b.Options.MaxMessageSize, got[0].Body.Length);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_peer_that_restarts_with_a_smaller_limit_gets_what_fits_and_the_rest_is_withdrawn(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var key = MessengerKeyPair.Generate();
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { KeyPair = key });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], Wait), b.WaitForPeersAsync(["a"], Wait));
        using var probe = new EventProbe(a);
        await b.AbandonForTestsAsync();
        await probe.WaitAsync("unreachable", "b");

        // Queued for b under its old limit (1 MiB). 200 KiB is over the frame a node with a 1024-byte limit
        // takes at all: sent, it would end the connection each time, and nothing after it would ever arrive.
        var big = a.SendAsync("b", new byte[200 * 1024], MessageContentType.Binary, null, requireAck: true);
        await a.SendAsync("b", "after");
        var b2 = await cluster.StartAsync("b", o => o with { KeyPair = key, MaxMessageSize = 1024 });

        var got = await TestCluster.ReadAsync(b2, 1);
        Assert.Equal("after", got[0].GetText());
        var error = await Assert.ThrowsAsync<MessageTooLargeException>(() => big.WaitAsync(Wait));
        Assert.Equal((1024, "b"), (error.Limit, error.Peer));
        Assert.Equal((1L, 0L), (a.Statistics.MessagesDropped, b2.Statistics.MessagesDropped));
        await a.SendAsync("b", "and on", topic: null, requireAck: true).WaitAsync(Wait);
        Assert.Equal("and on", (await TestCluster.ReadAsync(b2, 1))[0].GetText());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_held_broadcast_over_the_limit_of_a_peer_that_joins_is_withdrawn_and_what_follows_reaches_it(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var a = await cluster.StartAsync("a", TestCluster.Patient);
        var b = await cluster.StartAsync("b", TestCluster.Patient);
        await Task.WhenAll(a.WaitForPeersAsync(["b"], Wait), b.WaitForPeersAsync(["a"], Wait));
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Runtime.BroadcastHeldChanged += isHeld => (isHeld ? held : released).TrySetResult();
        var dropped = new TaskCompletionSource<MessageDroppedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.MessageDropped += (_, e) => dropped.TrySetResult(e);

        // b acknowledges no broadcast (and a does not leave it behind for a minute): the window fills, and a large
        // broadcast is held back.
        b.Faults.MuteBroadcastAcks = true;
        for (var i = 0; !held.Task.IsCompleted; i++)
        {
            Assert.True(i < 1000, "the window never filled");
            await a.BroadcastAsync($"fill-{i}");
            await a.Runtime.BroadcastWindowAsync();
        }
        await a.BroadcastAsync(new byte[200_000]);

        // c joins with a 1024-byte limit while it waits: published, it would end c's subscription, and take the
        // broadcasts after it on that connection with it, counted nowhere (c had not heard from a before).
        var c = await cluster.StartAsync("c", o => TestCluster.Patient(o) with { MaxMessageSize = 1024 });
        await Task.WhenAll(a.WaitForPeersAsync(["c"], Wait), c.WaitForPeersAsync(["a"], Wait));
        var e = await dropped.Task.WaitAsync(Wait);
        Assert.Equal(("*", 1L), (e.Peer, e.Count));
        Assert.Contains("of 200000 bytes is over the MaxMessageSize of 'c' (1024)", e.Reason, StringComparison.Ordinal);
        for (var i = 0; i < 5; i++) await a.BroadcastAsync($"after-{i}");
        await b.DisposeAsync();
        await released.Task.WaitAsync(Wait);

        var after = new List<string>();
        using var deadline = new CancellationTokenSource(Wait);
        while (after.Count < 5)
        {
            var text = (await c.ReadAsync(deadline.Token)).GetText();
            if (text.StartsWith("after-", StringComparison.Ordinal)) after.Add(text);
        }
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"after-{i}"), after);
        Assert.Equal((1L, 0L), (a.Statistics.MessagesDropped, c.Statistics.MessagesDropped));
    }

    /// <summary>A raw DEALER that says HELLO as a node named "raw", and has its WELCOME, which tells the node's limit.</summary>
    private static DealerSocket Greet(MessengerNode b, TestCluster cluster)
    {
        var raw = RawPlainPeer.Greet(b, cluster, NodeId.NewRandom(), out var welcome);
        Assert.Equal(b.Options.MaxMessageSize, ControlFrames.ReadWelcome(welcome, secure: false).MaxMessageSize);
        return raw;
    }

    private static byte[] Batch(long ack, params (long Sequence, byte[] Body)[] records) => RawPlainPeer.Batch(ack, records);

    /// <summary>A peer named "raw" played by hand over protocol 1: it says HELLO to the node, whose link then
    /// connects to its ROUTER, and it answers that link's HELLO only when the test calls <see cref="Welcome"/>.</summary>
    private sealed class HandPlayedPeer : IDisposable
    {
        private readonly RouterSocket _router = new();
        private readonly DealerSocket _greeter = new();
        private readonly NodeId _id = NodeId.NewRandom();
        private readonly int _port;
        private byte[] _link = [];

        private HandPlayedPeer()
        {
            _router.Options.Linger = TimeSpan.Zero;
            _greeter.Options.Linger = TimeSpan.Zero;
            _port = _router.BindRandomPort("tcp://127.0.0.1");
        }

        /// <summary>Returns once the node's link to it has said HELLO: the node has it in its table, joining.</summary>
        public static HandPlayedPeer Greet(MessengerNode node, TestCluster cluster)
        {
            var peer = new HandPlayedPeer();
            peer._greeter.Connect(node.Endpoint);
            peer._greeter.SendFrame(ControlFrames.Hello(new HelloFrame(cluster.Name, peer._id, "raw", "127.0.0.1", peer._port, peer._port, Guid.NewGuid(), Guid.NewGuid())));
            var (link, hello) = peer.ReceiveFrame(FrameType.Hello);
            Assert.Null(ControlFrames.ReadHello(hello).DataFor);
            peer._link = link;
            return peer;
        }

        public void Welcome(int maxMessageSize) =>
            _router.SendMoreFrame(_link).SendFrame(ControlFrames.Welcome(new WelcomeFrame(_id, "raw", _port, _port, maxMessageSize)));

        /// <summary>The records of the next DATA frames, until <paramref name="count"/> have come; with
        /// <paramref name="acknowledge"/>, each frame is acknowledged.</summary>
        public List<BatchRecord> ReadRecords(int count, bool acknowledge = false)
        {
            var records = new List<BatchRecord>();
            while (records.Count < count)
            {
                BatchReader.Read(ReceiveFrame(FrameType.Data).Frame, FrameType.Data, records);
                if (acknowledge) _router.SendMoreFrame(_link).SendFrame(ControlFrames.Ack(records[^1].Sequence));
            }
            return records;
        }

        private (byte[] Identity, byte[] Frame) ReceiveFrame(FrameType type)
        {
            var deadline = DateTime.UtcNow + Wait;
            while (true)
            {
                byte[]? identity = null;
                var left = deadline - DateTime.UtcNow;
                Assert.True(left > TimeSpan.Zero && _router.TryReceiveFrameBytes(left, out identity), $"no {type}");
                var frame = _router.ReceiveFrameBytes();
                if (Wire.ReadHeader(frame) == type) return (identity!, frame);
            }
        }

        public void Dispose()
        {
            _greeter.Dispose();
            _router.Dispose();
        }
    }
}
