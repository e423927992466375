using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using Messenger.Protocol;
using Messenger.Security;
using Messenger.Tests.Support;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Security;

/// <summary>
/// A stranger floods a node with random and mutated frames and with HELLOs: each one is dropped or refused and
/// counted, nothing reaches the application, the stranger gets nothing but RESET and REFUSE back, and members go on
/// exchanging acknowledged messages and joining. Completion and correctness only: speed is the stress suite's job.
/// </summary>
public sealed class JunkFloodTests
{
    private static readonly TimeSpan Wait = TestCluster.Timeout;

    /// <summary>A node name no parallel test uses, so that the metrics it tags can be told apart.</summary>
    private static string UniqueName(string prefix) => $"{prefix}{Guid.NewGuid():N}"[..16];

    [Fact]
    public async Task Junk_of_every_kind_is_dropped_counted_by_reason_and_summed_up_in_the_log()
    {
        await using var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        var name = UniqueName("b");
        using var metrics = new RejectMetrics(name);
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync(name, o => o with { LoggerFactory = log });
        // Both ways connected: no handshake of the members' own is under way to add to the counts below.
        await Task.WhenAll(a.WaitForPeersAsync([name], Wait), b.WaitForPeersAsync(["a"], Wait));
        var before = b.Statistics;

        var random = new Random(1234);
        var expected = new Dictionary<string, int>();
        var frames = new List<byte[]>();
        void Add(string reason, byte[] frame)
        {
            frames.Add(frame);
            expected[reason] = expected.GetValueOrDefault(reason) + 1;
        }
        Add("truncated", []);
        Add("truncated", [0x4D]);
        Add("truncated", [0x4D, 0x02]);
        Add("bad-magic", [0x00, 0x02, (byte)FrameType.Sealed, 1, 2, 3]);
        Add("bad-version", [0x4D, 0x09, (byte)FrameType.Sealed]);
        Add("bad-version", ControlFrames.Timestamped(FrameType.Ping, 1)); // protocol 1 on a secure node
        Add("unknown-type", [0x4D, 0x02, 0xEE]);
        Add("unknown-type", [0x4D, 0x02, (byte)FrameType.Data, 1, 0, 0, 0]); // an inner type outside its envelope
        Add("wrong-socket", [0x4D, 0x02, (byte)FrameType.SealedBroadcast, .. RandomBytes(random, 40)]);
        Add("wrong-socket", ControlFrames.Empty(FrameType.Reset, Wire.SecureVersion));
        Add("wrong-socket", ControlFrames.Refuse(new RefuseFrame(RefuseCode.Busy, "no"), Wire.SecureVersion));
        Add("no-handshake", ControlFrames.Handshake(RandomBytes(random, 96)));
        Add("malformed-hello", [0x4D, 0x02, (byte)FrameType.Hello]);
        Add("malformed-hello", [0x4D, 0x02, (byte)FrameType.Hello, 5, (byte)'a', (byte)' ', (byte)'b', (byte)'c', (byte)'d', 1, 2]);
        Add("malformed-hello", ControlFrames.SecureHello(cluster.Name, []));
        Add("bad-handshake", ControlFrames.SecureHello(cluster.Name, RandomBytes(random, 48)));
        for (var i = 0; i < 100; i++) Add("no-session", [0x4D, 0x02, (byte)FrameType.Sealed, .. RandomBytes(random, random.Next(0, 120))]);
        for (var i = 0; i < 200; i++)
        {
            var f = RandomBytes(random, random.Next(Wire.HeaderSize, 200));
            if (f[0] == Wire.Magic) f[0] = 0; // random, but never a header by chance (and never shorter than one)
            Add("bad-magic", f);
        }

        using var stranger = new DealerSocket();
        stranger.Options.Linger = TimeSpan.Zero;
        stranger.Connect(b.Endpoint);
        foreach (var f in frames) stranger.SendFrame(f);
        stranger.SendMoreFrame([0x4D, 0x02, (byte)FrameType.Sealed]).SendFrame([1, 2, 3]);
        expected["multipart"] = 1;
        // Refused with a REFUSE rather than dropped: counted as refused handshakes.
        stranger.SendFrame(ControlFrames.SecureHello("another-cluster", RandomBytes(random, 48)));
        stranger.SendFrame(ControlFrames.Hello(new HelloFrame(cluster.Name, NodeId.NewRandom(), "plain", "127.0.0.1", 1, 2, Guid.NewGuid(), Guid.NewGuid())));
        var total = frames.Count + 1;

        // Both REFUSEs counted (they go out right after): other HELLOs above are refused without an answer and count
        // as refused handshakes too.
        await metrics.Changed.UntilAsync(
            () => b.Statistics.FramesRejected - before.FramesRejected >= total && b.Statistics.HandshakesRefused - before.HandshakesRefused >= 2
                && metrics.Refused(nameof(RefuseCode.WrongCluster)) >= 1 && metrics.Refused(nameof(RefuseCode.UnsupportedVersion)) >= 1,
            () => $"rejected {b.Statistics.FramesRejected - before.FramesRejected} of {total}, refused {b.Statistics.HandshakesRefused - before.HandshakesRefused} of 2", Wait);
        Assert.Equal(total, b.Statistics.FramesRejected - before.FramesRejected);
        foreach (var (reason, count) in expected) Assert.True(metrics.Rejected(reason) == count, $"{reason}: counted {metrics.Rejected(reason)}, sent {count}; all: {metrics}");
        Assert.Equal(1, metrics.Refused(nameof(RefuseCode.WrongCluster)));
        Assert.Equal(1, metrics.Refused(nameof(RefuseCode.UnsupportedVersion)));

        // What came back: RESET (for the sealed frames without a session, once for the connection, not once a frame)
        // and the two REFUSEs; never a handshake message or anything sealed.
        var replies = ReceiveUntil(stranger, got => got.Count(r => Wire.IsRefuse(r)) >= 2 && got.Any(IsReset));
        Assert.All(replies, r => Assert.True(Wire.IsRefuse(r) || IsReset(r), $"unexpected reply {Convert.ToHexString(r)}"));
        Assert.True(replies.Count(r => Wire.IsRefuse(r)) == 2, $"replies: {string.Join(", ", replies.Select(r => Convert.ToHexString(r.AsSpan(0, Math.Min(r.Length, 4)))))}");
        var resets = replies.Count(IsReset);
        Assert.InRange(resets, 1, 10);

        // The log sums the flood up once a second instead of a line per frame.
        await log.Written.UntilAsync(() => log.Lines.Any(l => l.EventId == 1302 && l.Message.Contains("no-session", StringComparison.Ordinal)), () => log.All, Wait);
        var summary = log.Lines.First(l => l.EventId == 1302 && l.Message.Contains("no-session", StringComparison.Ordinal)).Message;
        Assert.Contains("connection ", summary, StringComparison.Ordinal);
        Assert.InRange(log.Lines.Count(l => l.EventId == 1300), 1, 20);

        Assert.False(b.TryRead(out var leaked), $"nothing delivered, but got {leaked}");
        await a.SendAsync(name, "members still talk", topic: null, requireAck: true).WaitAsync(Wait);
        Assert.Equal("members still talk", (await TestCluster.ReadAsync(b, 1))[0].GetText());
    }

    [Fact]
    public async Task A_member_whose_session_was_forgotten_recovers_through_reset_again_and_again()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await Task.WhenAll(a.WaitForPeersAsync(["b"], Wait), b.WaitForPeersAsync(["a"], Wait));

        // A stranger's sealed junk on its own connection is answered RESET at most once a second; a member's
        // forgotten session must still be answered at once, each time, from either side.
        using var stranger = new DealerSocket();
        stranger.Options.Linger = TimeSpan.Zero;
        stranger.Connect(b.Endpoint);
        var random = new Random(5);
        for (var round = 1; round <= 4; round++)
        {
            for (var i = 0; i < 20; i++) stranger.SendFrame([0x4D, 0x02, (byte)FrameType.Sealed, .. RandomBytes(random, 40)]);
            var (forgetful, other) = round % 2 == 1 ? (b, a) : (a, b);
            await forgetful.Faults.ForgetSessions().WaitAsync(Wait);
            await other.SendAsync(forgetful.Name, $"to {forgetful.Name} {round}", topic: null, requireAck: true).WaitAsync(Wait);
            await forgetful.SendAsync(other.Name, $"back to {other.Name} {round}", topic: null, requireAck: true).WaitAsync(Wait);
            Assert.Equal($"to {forgetful.Name} {round}", (await TestCluster.ReadAsync(forgetful, 1))[0].GetText());
            Assert.Equal($"back to {other.Name} {round}", (await TestCluster.ReadAsync(other, 1))[0].GetText());
        }
        Assert.False(a.TryRead(out var extraA), $"no duplicate, but got {extraA}");
        Assert.False(b.TryRead(out var extraB), $"no duplicate, but got {extraB}");
        Assert.Equal(PeerState.Connected, a.GetPeer("b")!.State);
        Assert.Equal(PeerState.Connected, b.GetPeer("a")!.State);
        Assert.InRange(ReceiveUntil(stranger, got => got.Any(IsReset)).Count(IsReset), 1, 20);
    }

    [Fact]
    public async Task A_hello_flood_from_one_connection_does_not_keep_a_new_member_out()
    {
        await using var cluster = new TestCluster();
        var name = UniqueName("b");
        using var metrics = new RejectMetrics(name);
        // A small node-wide handshake rate, so that one connection's valid HELLOs could take all of it.
        var b = await cluster.StartAsync(name, o => o with { MaxHandshakesPerSecond = 10 });

        using var stranger = new RawSecureClient(b.Endpoint);
        stranger.Hello(cluster.Name, ClusterKey.Generate().Bytes, MessengerKeyPair.Generate());
        var hello = stranger.Sent[0]; // a valid Noise message 1: anyone who knows the cluster's name can make one
        using var stop = new CancellationTokenSource();
        var watch = Stopwatch.StartNew();
        long sent = 0, answered = 0, other = 0;
        var flood = Task.Run(() =>
        {
            using var socket = new DealerSocket();
            socket.Options.Linger = TimeSpan.Zero;
            socket.Connect(b.Endpoint);
            void Read()
            {
                while (socket.TryReceiveFrameBytes(out var reply))
                {
                    if (reply!.Length > Wire.HeaderSize && reply[2] == (byte)FrameType.Handshake) Interlocked.Increment(ref answered);
                    else Interlocked.Increment(ref other);
                }
            }
            while (!stop.IsCancellationRequested && sent < 2_000_000)
            {
                if (socket.TrySendFrame(TimeSpan.FromMilliseconds(100), hello)) Interlocked.Increment(ref sent);
                Read();
            }
            Read();
        });
        try
        {
            // The flood is on: the connection's own budget is spent.
            await metrics.Changed.UntilAsync(() => metrics.Refused("source-rate-limited") >= 100, () => $"source-rate-limited {metrics.Refused("source-rate-limited")}, sent {Interlocked.Read(ref sent)}", Wait);
            var c = await cluster.StartAsync("c");
            var join = TimeSpan.FromSeconds(60);
            await Task.WhenAll(c.WaitForPeersAsync([name], join), b.WaitForPeersAsync(["c"], join));
            await c.SendAsync(name, "joined during the flood", topic: null, requireAck: true).WaitAsync(Wait);
            Assert.Equal("joined during the flood", (await TestCluster.ReadAsync(b, 1))[0].GetText());
        }
        finally
        {
            stop.Cancel();
            await flood.WaitAsync(Wait);
        }
        // The flooding connection got at most its own budget of handshake starts (4 at once, one more every 500 ms),
        // and nothing but handshake messages 2.
        Assert.InRange(Interlocked.Read(ref answered), 1, 4 + 2 * (long)Math.Ceiling(watch.Elapsed.TotalSeconds) + 1);
        Assert.Equal(0, Interlocked.Read(ref other));
        Assert.False(b.TryRead(out var leaked), $"nothing from the stranger, but got {leaked}");
    }

    [Fact]
    public async Task Members_exchange_acknowledged_messages_while_strangers_flood_junk()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await Task.WhenAll(a.WaitForPeersAsync(["b"], Wait), b.WaitForPeersAsync(["a"], Wait));
        var before = b.Statistics;
        using var metrics = new RejectMetrics(b.Name);
        var floodStarted = new ChangeSignal();

        using var stop = new CancellationTokenSource();
        using var close = new CancellationTokenSource();
        long junk = 0;
        var floods = Enumerable.Range(0, 3).Select(k => Task.Run(() =>
        {
            using var socket = new DealerSocket();
            socket.Options.Linger = TimeSpan.Zero;
            socket.Connect(b.Endpoint);
            var random = new Random(100 + k);
            for (var i = 0; i < 200_000 && !stop.IsCancellationRequested; i++)
            {
                if (!socket.TrySendFrame(TimeSpan.FromMilliseconds(100), Junk(random, cluster.Name))) continue;
                if (Interlocked.Increment(ref junk) == 1000) floodStarted.Pulse();
                while (socket.TryReceiveFrameBytes(out _)) { }
            }
            // Keep the connection until the node has read what was sent.
            close.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(60));
        })).ToList();
        try
        {
            await floodStarted.UntilAsync(() => Interlocked.Read(ref junk) >= 1000, () => $"junk sent {Interlocked.Read(ref junk)}", Wait);
            const int Count = 300;
            async Task Exchange(MessengerNode from, MessengerNode to)
            {
                for (var i = 0; i < Count; i++) await from.SendAsync(to.Name, $"{from.Name}{i}", topic: null, requireAck: true).WaitAsync(Wait);
            }
            var reading = Task.WhenAll(TestCluster.ReadAsync(b, Count, TimeSpan.FromSeconds(60)), TestCluster.ReadAsync(a, Count, TimeSpan.FromSeconds(60)));
            await Task.WhenAll(Exchange(a, b), Exchange(b, a));
            var got = await reading;
            Assert.Equal(Enumerable.Range(0, Count).Select(i => $"a{i}"), got[0].Select(m => m.GetText()));
            Assert.Equal(Enumerable.Range(0, Count).Select(i => $"b{i}"), got[1].Select(m => m.GetText()));
            Assert.True(Interlocked.Read(ref junk) >= 1000, "the flood went on while the members talked");

            // Every junk frame is counted, as a rejected frame or a refused handshake.
            await stop.CancelAsync();
            var sent = -1L;
            long Counted() => b.Statistics.FramesRejected - before.FramesRejected + b.Statistics.HandshakesRefused - before.HandshakesRefused;
            await metrics.Changed.UntilAsync(() => Counted() >= (sent = Interlocked.Read(ref junk)), () => $"counted {Counted()} of {sent}", TimeSpan.FromSeconds(60));
        }
        finally
        {
            await stop.CancelAsync();
            await close.CancelAsync();
            await Task.WhenAll(floods).WaitAsync(Wait);
        }
        Assert.False(a.TryRead(out var extraA), $"nothing more at a, but got {extraA}");
        Assert.False(b.TryRead(out var extraB), $"nothing more at b, but got {extraB}");
        Assert.Equal(PeerState.Connected, a.GetPeer("b")!.State);
        Assert.Equal(PeerState.Connected, b.GetPeer("a")!.State);
    }

    [Fact]
    public async Task The_per_connection_budgets_follow_the_node_options()
    {
        await using var cluster = new TestCluster();
        var name = UniqueName("b");
        using var metrics = new RejectMetrics(name);
        var b = await cluster.StartAsync(name, o => o with
        {
            HelloBurstPerConnection = 2,
            HelloIntervalPerConnection = TimeSpan.FromHours(1),
            StrangerResetInterval = TimeSpan.FromMilliseconds(1),
            MaxStrangerFramesPerWakeup = 1,
            MaxTrackedConnections = 16,
        });

        // Six valid HELLOs on one connection: two handshakes start (the default would start four), the other four
        // are refused unanswered.
        using var client = new RawSecureClient(b.Endpoint);
        client.Hello(cluster.Name, ClusterKey.Generate().Bytes, MessengerKeyPair.Generate());
        for (var i = 0; i < 5; i++) client.Send(client.Sent[0]);
        await metrics.Changed.UntilAsync(() => metrics.Refused("source-rate-limited") >= 4, () => $"source-rate-limited {metrics.Refused("source-rate-limited")}", Wait);
        var answers = 0;
        while (answers < 2 && client.TryReceive(Wait, out var reply))
        {
            Assert.Equal(FrameType.Handshake, Wire.ReadEnvelope(reply!));
            answers++;
        }
        Assert.Equal(2, answers);
        Assert.False(client.TryReceive(TimeSpan.Zero, out var extra), $"no third answer, but got {(extra is null ? "" : Convert.ToHexString(extra))}");
        Assert.Equal(4, metrics.Refused("source-rate-limited"));

        // Sealed frames without a session, one at a time: each is answered RESET, as the 1 ms interval passes
        // between them (the default, a second, would leave the second unanswered).
        using var stranger = new DealerSocket();
        stranger.Options.Linger = TimeSpan.Zero;
        stranger.Connect(b.Endpoint);
        var random = new Random(9);
        for (var round = 1; round <= 2; round++)
        {
            stranger.SendFrame([0x4D, 0x02, (byte)FrameType.Sealed, .. RandomBytes(random, 40)]);
            Assert.Equal(1, ReceiveUntil(stranger, got => got.Any(IsReset)).Count(IsReset));
            // The next frame must come after the interval by the clock the node's budget reads.
            var answeredAt = Environment.TickCount64;
            Assert.True(SpinWait.SpinUntil(() => Environment.TickCount64 - answeredAt >= 2, Wait), "the clock did not move");
        }

    }

    [Theory]
    [InlineData(nameof(MessengerNodeOptions.HelloBurstPerConnection))]
    [InlineData(nameof(MessengerNodeOptions.HelloIntervalPerConnection))]
    [InlineData(nameof(MessengerNodeOptions.StrangerResetInterval))]
    [InlineData(nameof(MessengerNodeOptions.MaxStrangerFramesPerWakeup))]
    [InlineData(nameof(MessengerNodeOptions.MaxTrackedConnections))]
    public async Task A_flood_setting_out_of_range_fails_the_start_naming_it(string option)
    {
        var o = new TestCluster().Options("a");
        o = option switch
        {
            nameof(MessengerNodeOptions.HelloBurstPerConnection) => o with { HelloBurstPerConnection = 0 },
            nameof(MessengerNodeOptions.HelloIntervalPerConnection) => o with { HelloIntervalPerConnection = TimeSpan.FromTicks(10) },
            nameof(MessengerNodeOptions.StrangerResetInterval) => o with { StrangerResetInterval = TimeSpan.FromDays(2) },
            nameof(MessengerNodeOptions.MaxStrangerFramesPerWakeup) => o with { MaxStrangerFramesPerWakeup = 0 },
            _ => o with { MaxTrackedConnections = -1 },
        };
        var error = await Assert.ThrowsAsync<MessengerConfigurationException>(() => MessengerNode.StartAsync(o));
        Assert.Equal(("InvalidConfiguration", option), (error.ErrorId, error.Option));
    }

    /// <summary>One junk frame: random bytes, or a mutated protocol 2 envelope of a kind a stranger may send.</summary>
    private static byte[] Junk(Random random, string cluster) => random.Next(8) switch
    {
        0 => RandomBytes(random, random.Next(1, 200)),
        1 => [0x4D, 0x02, (byte)FrameType.Sealed, .. RandomBytes(random, random.Next(0, 200))],
        2 => ControlFrames.Handshake(RandomBytes(random, random.Next(1, 160))),
        3 => ControlFrames.SecureHello(cluster, RandomBytes(random, 48)),
        4 => ControlFrames.SecureHello($"not-{random.Next():x}", RandomBytes(random, 48)),
        5 => [0x4D, 0x02, (byte)FrameType.Hello, .. RandomBytes(random, random.Next(0, 120))],
        6 => [0x4D, 0x02, (byte)FrameType.SealedBroadcast, .. RandomBytes(random, random.Next(0, 120))],
        _ => [0x4D, 0x01, (byte)random.Next(0, 0x14), .. RandomBytes(random, random.Next(0, 100))],
    };

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    private static bool IsReset(byte[] frame) => frame.Length == Wire.HeaderSize && frame[0] == Wire.Magic && frame[2] == (byte)FrameType.Reset;

    /// <summary>What a raw socket has received: frames are waited for (each up to the generous timeout) until
    /// <paramref name="enough"/> holds, then whatever else has already arrived is taken too.</summary>
    private static List<byte[]> ReceiveUntil(DealerSocket socket, Func<List<byte[]>, bool> enough)
    {
        var replies = new List<byte[]>();
        while (!enough(replies) && socket.TryReceiveFrameBytes(Wait, out var frame)) replies.Add(frame!);
        while (replies.Count < 10_000 && socket.TryReceiveFrameBytes(TimeSpan.Zero, out var more)) replies.Add(more!);
        return replies;
    }

    /// <summary>The <c>messenger.frames.rejected</c> and <c>messenger.handshakes.refused</c> measurements of one node,
    /// by reason tag.</summary>
    private sealed class RejectMetrics : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _rejected = new();
        private readonly ConcurrentDictionary<string, long> _refused = new();

        public RejectMetrics(string node)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "Messenger" && instrument.Name is "messenger.frames.rejected" or "messenger.handshakes.refused") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                string? n = null, reason = null;
                foreach (var t in tags)
                {
                    if (t.Key == "node") n = t.Value as string;
                    else if (t.Key == "reason") reason = t.Value as string;
                }
                if (n != node) return;
                var into = instrument.Name == "messenger.frames.rejected" ? _rejected : _refused;
                into.AddOrUpdate(reason ?? "(none)", value, (_, v) => v + value);
                Changed.Pulse();
            });
            _listener.Start();
        }

        /// <summary>Pulsed after each measurement of the node: the node's statistics have moved too (they count first).</summary>
        public ChangeSignal Changed { get; } = new();

        public long Rejected(string reason) => _rejected.GetValueOrDefault(reason);
        public long Refused(string reason) => _refused.GetValueOrDefault(reason);

        public override string ToString() => string.Join(", ", _rejected.Select(p => $"{p.Key} {p.Value}"));

        public void Dispose() => _listener.Dispose();
    }
}
