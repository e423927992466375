using System.Buffers.Binary;
using Messenger.Protocol;
using Messenger.Tests.Support;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Transport;

/// <summary>A raw NetMQ DEALER sends what no Messenger node would; the node drops and counts it and keeps working.
/// These speak plaintext protocol 1 to an insecure node, to reach the frame decoders behind the envelope; the
/// security tests do the same against secure nodes.</summary>
public sealed class MalformedFrameTests
{
    private static readonly TimeSpan Wait = TestCluster.Timeout;

    [Fact]
    public async Task Garbage_before_hello_is_dropped_counted_and_answered_with_reset()
    {
        await using var cluster = new TestCluster();
        static MessengerNodeOptions Insecure(MessengerNodeOptions o) => o with { Insecure = true, ClusterKey = null };
        var (a, b) = (await cluster.StartAsync("a", Insecure), await cluster.StartAsync("b", Insecure));
        await a.WaitForPeersAsync(["b"], Wait);

        using var raw = new DealerSocket();
        raw.Options.Linger = TimeSpan.Zero;
        raw.Connect(b.Endpoint);
        var random = new Random(7);
        List<byte[]> frames =
        [
            [],
            [0x4D],
            [0x4D, 0x01],
            [0x00, 0x01, 0x04],             // bad magic
            [0x4D, 0x09, 0x04],             // unknown version
            [0x4D, 0x01, 0xEE],             // unknown type
            [0x4D, 0x01, (byte)FrameType.Hello, 0xFF], // truncated HELLO
        ];
        for (var i = 0; i < 50; i++)
        {
            var f = new byte[random.Next(1, 300)];
            random.NextBytes(f);
            frames.Add(f);
        }
        foreach (var f in frames) raw.SendFrame(f);
        raw.SendMoreFrame([0x4D, 0x01, 0x05]).SendFrame([1, 2, 3]); // multipart

        // A DATA frame from a connection that never said HELLO is answered with RESET: ordering on the connection
        // means every frame above was handled once the answer arrives.
        raw.SendFrame(ControlFrames.Timestamped(FrameType.Ping, 1));
        Assert.True(raw.TryReceiveFrameBytes(Wait, out var answer), "the node answers RESET");
        Assert.Equal(FrameType.Reset, Wire.ReadHeader(answer!));

        Assert.True(b.Statistics.FramesRejected >= frames.Count + 1, $"rejected {b.Statistics.FramesRejected}");
        Assert.False(b.TryRead(out _));
        await a.SendAsync("b", "still fine");
        Assert.Equal("still fine", (await TestCluster.ReadAsync(b, 1))[0].GetText());
        Assert.Equal(PeerState.Connected, a.GetPeer("b")!.State);
    }

    [Fact]
    public async Task Broken_batches_from_a_handshaken_connection_deliver_nothing()
    {
        await using var cluster = new TestCluster();
        var b = await cluster.StartAsync("b", o => o with { BeaconEnabled = false, MaxMessageSize = 1024, Insecure = true, ClusterKey = null });

        using var raw = new DealerSocket();
        raw.Options.Linger = TimeSpan.Zero;
        raw.Connect(b.Endpoint);
        var id = NodeId.NewRandom();
        raw.SendFrame(ControlFrames.Hello(new HelloFrame(cluster.Name, id, "raw", "127.0.0.1", 1, 2, Guid.NewGuid(), Guid.NewGuid())));
        Assert.True(raw.TryReceiveFrameBytes(Wait, out var welcome));
        Assert.Equal(FrameType.Welcome, Wire.ReadHeader(welcome!));

        var good = Batch(1, "ok"u8.ToArray());
        List<byte[]> broken =
        [
            good[..^1],                                   // truncated body
            [.. good, 0x00],                              // trailing byte
            WithCount(good, 0),                           // empty batch
            WithCount(good, 1000),                        // claims more than it holds
            WithByte(good, RecordAt, 0x80),               // unknown flag
            WithByte(good, RecordAt + 1, 0x09),           // unknown content type
            Batch(0, "zero"u8.ToArray()),                 // sequence 0
            WithAck(good, -1),                            // negative ack
            good[..(Wire.HeaderSize + 4)],                // truncated in ack
        ];
        foreach (var f in broken) raw.SendFrame(f);
        raw.SendFrame(good);
        raw.SendFrame(good); // the same sequence again: a duplicate
        raw.SendFrame(ControlFrames.Timestamped(FrameType.Ping, 42));
        // The answers come in order on this connection: PEERS (after WELCOME), then PONG.
        byte[]? answer;
        do Assert.True(raw.TryReceiveFrameBytes(Wait, out answer));
        while (Wire.ReadHeader(answer!) != FrameType.Pong);

        var m = Assert.Single(await TestCluster.ReadAsync(b, 1));
        Assert.Equal("ok", m.GetText());
        Assert.False(b.TryRead(out _), "nothing from a broken batch, and no duplicate, is delivered");
        Assert.True(b.Statistics.FramesRejected >= broken.Count + 1);
        Assert.Equal(0, b.Statistics.Restarts);
    }

    [Fact]
    public async Task Frames_of_an_old_incarnation_read_after_the_new_ones_HELLO_are_not_delivered()
    {
        await using var cluster = new TestCluster();
        var b = await cluster.StartAsync("b", o => o with { BeaconEnabled = false, Insecure = true, ClusterKey = null });
        var id = NodeId.NewRandom();
        using var old = Greet(b, cluster, id);
        for (var i = 1; i <= 5; i++) old.SendFrame(Batch(i, System.Text.Encoding.UTF8.GetBytes($"old {i}")));
        Assert.Equal(5, (await TestCluster.ReadAsync(b, 5))[^1].Sequence);

        // The node restarts (a new incarnation, on a new connection) while a frame of its old process is still on
        // the way: that frame meets no session any more, and is answered RESET instead of being counted.
        using var fresh = Greet(b, cluster, id);
        old.SendFrame(Batch(6, "old 6"u8.ToArray()));
        byte[]? answer;
        do Assert.True(old.TryReceiveFrameBytes(Wait, out answer), "the old connection was never told RESET");
        while (Wire.ReadHeader(answer!) != FrameType.Reset);
        fresh.SendFrame(Batch(1, "new 1"u8.ToArray()));
        var m = Assert.Single(await TestCluster.ReadAsync(b, 1));
        Assert.Equal(("new 1", 1L), (m.GetText(), m.Sequence));
        Assert.False(b.TryRead(out var extra), $"nothing more, but got {extra}");
    }

    // A DATA frame: header, ack, count, then its records (docs/PROTOCOL.md, "Batches").
    private static readonly int CountAt = BatchReader.CountOffset(FrameType.Data);
    private static readonly int RecordAt = CountAt + 4;

    private static byte[] Batch(long sequence, byte[] body) => RawPlainPeer.Batch(0, (sequence, body));

    private static DealerSocket Greet(MessengerNode b, TestCluster cluster, NodeId id) => RawPlainPeer.Greet(b, cluster, id, out _);

    private static byte[] WithCount(byte[] frame, uint count)
    {
        var copy = (byte[])frame.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(CountAt), count);
        return copy;
    }

    private static byte[] WithAck(byte[] frame, long ack)
    {
        var copy = (byte[])frame.Clone();
        BatchReader.WriteAck(copy, ack);
        return copy;
    }

    private static byte[] WithByte(byte[] frame, int index, byte value)
    {
        var copy = (byte[])frame.Clone();
        copy[index] = value;
        return copy;
    }
}
