using Messenger.Protocol;
using Messenger.Tests.Support;
using Messenger.Transport;

namespace Messenger.Tests.Protocol;

public sealed class WireFormatTests
{
    [Fact]
    public void Control_frames_round_trip()
    {
        var id = NodeId.NewRandom();
        var hello = new HelloFrame("cluster-1", id, "node.a_1", "127.0.0.1", 5000, 5001, Guid.NewGuid(), Guid.NewGuid());
        Assert.Equal(hello, ControlFrames.ReadHello(ControlFrames.Hello(hello)));
        var dataHello = hello with { DataFor = Guid.NewGuid() };
        Assert.Equal(dataHello, ControlFrames.ReadHello(ControlFrames.Hello(dataHello)));
        var welcome = new WelcomeFrame(id, "b", 1, 65535, 256 * 1024 * 1024);
        Assert.Equal(welcome, ControlFrames.ReadWelcome(ControlFrames.Welcome(welcome), secure: false));
        var dataWelcome = welcome with { DataPort = 40_001 };
        Assert.Equal(dataWelcome, ControlFrames.ReadWelcome(ControlFrames.Welcome(dataWelcome), secure: false));
        var refuse = new RefuseFrame(RefuseCode.NameInUse, "taken");
        Assert.Equal(refuse, ControlFrames.ReadRefuse(ControlFrames.Refuse(refuse)));
        var probe = new PubProbeFrame(id, NodeId.NewRandom(), 99);
        Assert.Equal(probe, ControlFrames.ReadPubProbe(ControlFrames.PubProbe(probe)));
        var peers = new List<PeerRecord> { new(id, "x", "host.example", 1, 2), new(NodeId.NewRandom(), "y", "10.0.0.1", 3, 4) };
        Assert.Equal(peers, ControlFrames.ReadPeers(ControlFrames.Peers(peers)));
        Assert.Equal(123456789L, ControlFrames.ReadTimestamped(ControlFrames.Timestamped(FrameType.Ping, 123456789)));
        Assert.Equal(77UL, ControlFrames.ReadSubProbe(ControlFrames.SubProbe(77)));
        Assert.Equal(new BroadcastTailFrame(id, 42), ControlFrames.ReadBroadcastTail(ControlFrames.BroadcastTail(id, 42)));
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadBroadcastTail(ControlFrames.BroadcastTail(id, 0)));
        Assert.Equal(id, new NodeId(Convert.FromHexString(id.ToString())));
    }

    [Fact]
    public void Protocol_1_defines_its_own_types_and_not_the_envelopes_of_protocol_2()
    {
        // docs/PROTOCOL.md: a type its version does not define is unknown-type, and never answered. Protocol 1 took
        // HANDSHAKE, SEALED and SEALED_BROADCAST for its own, and answered a stranger's with RESET.
        int[] protocol1 = [.. Enumerable.Range(0x01, 0x0E), 0x12, 0x13, 0x14];
        for (var type = 0; type < 256; type++)
        {
            var expected = protocol1.Contains(type) ? RejectReason.None : RejectReason.UnknownType;
            Assert.True(expected == Wire.CheckHeader([Wire.Magic, Wire.Version, (byte)type], out _), $"type 0x{type:x2}");
        }
    }

    [Fact]
    public void A_welcome_tells_the_largest_body_its_node_accepts_and_refuses_0_or_over_256_MiB()
    {
        var welcome = new WelcomeFrame(NodeId.NewRandom(), "b", 1, 2, 1);
        Assert.Equal(1, ControlFrames.ReadWelcome(ControlFrames.Welcome(welcome), secure: false).MaxMessageSize);
        Assert.Equal(ControlFrames.MaxMessageSizeLimit, ControlFrames.ReadWelcome(ControlFrames.Welcome(welcome with { MaxMessageSize = ControlFrames.MaxMessageSizeLimit }), secure: false).MaxMessageSize);
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadWelcome(ControlFrames.Welcome(welcome with { MaxMessageSize = 0 }), secure: false));
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadWelcome(ControlFrames.Welcome(welcome with { MaxMessageSize = ControlFrames.MaxMessageSizeLimit + 1 }), secure: false));
    }

    [Fact]
    public void A_data_connections_welcome_carries_the_data_port_and_refuses_port_0()
    {
        var key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        var sent = new WelcomeFrame(NodeId.NewRandom(), "b", 1, 2, 1, key, Messenger.Security.Noise.NoiseCipher.ChaChaPoly, 40_001);
        var frame = ControlFrames.Welcome(sent);
        var read = ControlFrames.ReadWelcome(frame, secure: true);
        Assert.Equal((sent.Id, sent.Name, sent.Port, sent.PublishPort, sent.DataPort), (read.Id, read.Name, read.Port, read.PublishPort, read.DataPort));
        Assert.Equal(key, read.BroadcastKey);
        // A link's own WELCOME has none.
        Assert.Equal(0, ControlFrames.ReadWelcome(ControlFrames.Welcome(sent with { DataPort = 0 }), secure: true).DataPort);
        // A protocol 2 WELCOME without the broadcast key is malformed, whatever follows.
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadWelcome(ControlFrames.Welcome(sent with { BroadcastKey = null }), secure: true));
        frame[^1] = 0;
        frame[^2] = 0;
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadWelcome(frame, secure: true));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("ünïcode")]
    [InlineData("a/b")]
    public void Invalid_names_are_rejected_on_receipt(string name)
    {
        var frame = ControlFrames.Hello(new HelloFrame("c", NodeId.NewRandom(), "placeholder", "127.0.0.1", 1, 2, Guid.NewGuid(), Guid.NewGuid()));
        var bytes = System.Text.Encoding.UTF8.GetBytes(name);
        // Rebuild with the bad name in place of "placeholder".
        var at = Wire.HeaderSize + 2 + Wire.NodeIdSize;
        var rebuilt = frame[..at].Concat(new[] { (byte)bytes.Length }).Concat(bytes).Concat(frame[(at + 1 + "placeholder".Length)..]).ToArray();
        Assert.Throws<ProtocolException>(() => ControlFrames.ReadHello(rebuilt));
    }

    [Fact]
    public void Outbound_batches_decode_to_what_was_queued()
    {
        var queue = new OutboundQueue(FrameType.Broadcast, NodeId.NewRandom(), 1 << 30);
        var topic = OutboundQueue.EncodeTopic("t");
        for (var i = 0; i < 5000; i++) queue.TryAppend(BitConverter.GetBytes(i), MessageContentType.Binary, i % 2 == 0 ? topic : null, i, ackNow: i % 3 == 0, out _);
        var segments = new List<OutboundSegment>();
        queue.TakeAll(segments);
        Assert.True(segments.Count >= 1);
        var records = new List<BatchRecord>();
        foreach (var s in segments)
        {
            var frame = s.Buffer[..s.Length];
            Assert.Equal(s.Count, BatchReader.Validate(frame, FrameType.Broadcast));
            BatchReader.Read(frame, FrameType.Broadcast, records);
            queue.Release(s);
        }
        Assert.Equal(5000, records.Count);
        for (var i = 0; i < 5000; i++)
        {
            Assert.Equal(i + 1, records[i].Sequence);
            Assert.Equal(i, BitConverter.ToInt32(records[i].Body.Span));
            Assert.Equal(i % 2 == 0 ? "t" : null, records[i].Topic);
            Assert.Equal(i % 3 == 0, records[i].AckNow);
        }
        Assert.Equal(0, queue.PendingBytes);
    }

    [Fact]
    public void Withdrawn_records_keep_their_place_and_number_and_lose_topic_and_body()
    {
        var queue = new OutboundQueue(FrameType.Data, NodeId.NewRandom(), 1 << 30);
        var topic = OutboundQueue.EncodeTopic("topic");
        // Bodies of 100 and 3000 bytes in turn, with and without a topic, over several frames.
        for (var i = 0; i < 200; i++) queue.TryAppend(Enumerable.Repeat((byte)i, i % 2 == 0 ? 100 : 3000).ToArray(), MessageContentType.Binary, i % 3 == 0 ? topic : null, i, ackNow: i % 5 == 0, out _);
        Assert.Null(queue.WithdrawOver(3000));

        var withdrawn = queue.WithdrawOver(2999)!;
        Assert.Equal(Enumerable.Range(0, 100).Select(k => new WithdrawnRecord(2 * k + 2, 3000, (2 * k + 1) % 5 == 0)), withdrawn);
        Assert.Null(queue.WithdrawOver(2999));

        var segments = new List<OutboundSegment>();
        queue.TakeAll(segments);
        var records = new List<BatchRecord>();
        foreach (var segment in segments)
        {
            BatchReader.Read(segment.Buffer[..segment.Length], FrameType.Data, records);
            queue.Release(segment);
        }
        Assert.Equal(Enumerable.Range(1, 200).Select(n => (long)n), records.Select(r => r.Sequence));
        for (var i = 0; i < 200; i++)
        {
            var r = records[i];
            Assert.Equal((i % 2 == 1, i % 5 == 0, (long)i), (r.Withdrawn, r.AckNow, r.SentAtMicros));
            Assert.Equal(i % 2 == 1 ? 0 : 100, r.Body.Length);
            Assert.Equal(i % 2 == 0 && i % 3 == 0 ? "topic" : null, r.Topic);
            Assert.All(r.Body.ToArray(), b => Assert.Equal((byte)i, b));
        }
        Assert.Equal(0, queue.PendingBytes);
    }

    [Fact]
    public void A_record_withdrawn_after_the_peer_acknowledged_it_is_not_reported_as_lost()
    {
        var queue = new OutboundQueue(FrameType.Data, NodeId.NewRandom(), 1 << 30, retainUntilAcknowledged: true);
        queue.TryAppend(new byte[3000], MessageContentType.Binary, null, 0, ackNow: false, out _);
        queue.TryAppend(new byte[3000], MessageContentType.Binary, null, 0, ackNow: true, out _);
        var segments = new List<OutboundSegment>();
        queue.TakeAll(segments);
        queue.Sent(Assert.Single(segments));
        queue.Acknowledge(1);
        Assert.Equal(1, queue.RequeueUnacknowledged());

        Assert.Equal([new WithdrawnRecord(2, 3000, AckNow: true)], queue.WithdrawOver(1024));
        segments.Clear();
        queue.TakeAll(segments);
        var records = new List<BatchRecord>();
        BatchReader.Read(Assert.Single(segments).Buffer[..segments[0].Length], FrameType.Data, records);
        Assert.Equal([(1L, true), (2L, true)], records.Select(r => (r.Sequence, r.Withdrawn)));
    }

    [Fact]
    public void A_withdrawn_record_with_a_body_is_malformed()
    {
        var frame = RawPlainPeer.Batch(0, (1, "body"u8.ToArray()));
        frame[BatchReader.CountOffset(FrameType.Data) + 4] = BatchReader.FlagWithdrawn;
        Assert.Throws<ProtocolException>(() => BatchReader.Read(frame, FrameType.Data, []));
        frame = RawPlainPeer.Batch(0, (1, []));
        frame[BatchReader.CountOffset(FrameType.Data) + 4] = BatchReader.FlagWithdrawn;
        Assert.Equal(1, BatchReader.Validate(frame, FrameType.Data));
    }

    [Fact]
    public void Mutated_frames_raise_only_protocol_errors()
    {
        var random = new Random(1234);
        var queue = new OutboundQueue(FrameType.Data, NodeId.NewRandom(), 1 << 30);
        for (var i = 0; i < 20; i++) queue.TryAppend(new byte[random.Next(0, 100)], MessageContentType.Text, OutboundQueue.EncodeTopic("topic"), 0, ackNow: false, out _);
        var segments = new List<OutboundSegment>();
        queue.TakeAll(segments);
        var seeds = new List<byte[]>
        {
            segments[0].Buffer[..segments[0].Length],
            ControlFrames.Hello(new HelloFrame("c", NodeId.NewRandom(), "n", "127.0.0.1", 1, 2, Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid())),
            ControlFrames.Peers([new PeerRecord(NodeId.NewRandom(), "p", "localhost", 1, 2)]),
            ControlFrames.Welcome(new WelcomeFrame(NodeId.NewRandom(), "w", 1, 2, 4096)),
        };
        for (var round = 0; round < 20_000; round++)
        {
            var frame = (byte[])seeds[round % seeds.Count].Clone();
            var mutations = random.Next(1, 4);
            for (var m = 0; m < mutations; m++)
            {
                switch (random.Next(3))
                {
                    case 0: frame[random.Next(frame.Length)] = (byte)random.Next(256); break;
                    case 1: frame = frame[..random.Next(frame.Length)]; break;
                    default: frame = [.. frame, (byte)random.Next(256)]; break;
                }
                if (frame.Length == 0) break;
            }
            try
            {
                var type = Wire.ReadHeader(frame);
                switch (type)
                {
                    case FrameType.Data or FrameType.Broadcast:
                        BatchReader.Validate(frame, type);
                        BatchReader.Read(frame, type, []);
                        break;
                    case FrameType.Hello: ControlFrames.ReadHello(frame); break;
                    case FrameType.Peers: ControlFrames.ReadPeers(frame); break;
                    case FrameType.Welcome: ControlFrames.ReadWelcome(frame, secure: round % 2 == 0); break;
                }
            }
            catch (ProtocolException)
            {
                // expected for most mutations
            }
        }
    }
}
