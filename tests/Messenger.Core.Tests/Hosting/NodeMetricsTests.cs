using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

/// <summary>
/// The meter "Messenger" as the README lists it, seen from real nodes on loopback: a full receive queue drops,
/// counts, raises and measures each message it turns away, and the counters of a node move with its traffic and
/// agree with its <see cref="MessengerNode.Statistics"/>. Each node has a name no parallel test uses, since the
/// meter is shared by every node of the process and tells them apart by the tag "node" alone.
/// </summary>
public sealed class NodeMetricsTests
{
    private static readonly TimeSpan Wait = TestCluster.Timeout;

    private const string PeersConnected = "messenger.peers.connected";
    private const string MessagesSent = "messenger.messages.sent";
    private const string MessagesReceived = "messenger.messages.received";
    private const string MessagesDropped = "messenger.messages.dropped";
    private const string BytesSent = "messenger.bytes.sent";
    private const string BytesReceived = "messenger.bytes.received";

    private static string UniqueName(string prefix) => $"{prefix}{Guid.NewGuid():N}"[..16];

    [Theory]
    [InlineData(ReceiveFullMode.DropNewest)]
    [InlineData(ReceiveFullMode.DropOldest)]
    public async Task A_full_receive_queue_drops_by_its_mode_and_counts_raises_and_measures_each_drop(ReceiveFullMode mode)
    {
        const int Capacity = 4, Sent = 10, Dropped = Sent - Capacity;
        await using var cluster = new TestCluster();
        var name = UniqueName("b");
        using var meters = new NodeMeters(name);
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync(name, o => o with { ReceiveQueueCapacity = Capacity, ReceiveFullMode = mode });
        await Task.WhenAll(a.WaitForPeersAsync([name], Wait), b.WaitForPeersAsync(["a"], Wait));
        var raised = new ConcurrentQueue<MessageDroppedEventArgs>();
        var allRaised = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.MessageDropped += (_, e) =>
        {
            raised.Enqueue(e);
            if (raised.Count >= Dropped) allRaised.TrySetResult();
        };

        // Nobody reads b. The tenth message is acknowledged, and it is one of the ten: with DropNewest it is itself
        // dropped, yet acknowledged all the same (its sequence number is taken before the queue turns it away), so
        // the acknowledgement says that b has dealt with all ten, whichever the mode, and no sleep is needed.
        for (var i = 1; i < Sent; i++) await a.SendAsync(name, $"m{i}");
        await a.SendAsync(name, $"m{Sent}", topic: null, requireAck: true).WaitAsync(Wait);

        // Counted and measured on b's receiving thread before its acknowledgement went out.
        Assert.Equal(Dropped, b.Statistics.MessagesDropped);
        Assert.Equal(Dropped, meters.Sum(name, MessagesDropped, "receive queue full"));
        Assert.Equal(Dropped, meters.Sum(name, MessagesDropped));
        // Received, in either mode, includes what the full queue dropped afterwards.
        Assert.Equal(Sent, b.Statistics.MessagesReceived);
        Assert.Equal(Sent, meters.Sum(name, MessagesReceived));

        // Raised on the node's event thread, in the order they were dropped.
        await allRaised.Task.WaitAsync(Wait);
        var (firstKept, firstDropped) = mode == ReceiveFullMode.DropNewest ? (1, Capacity + 1) : (Dropped + 1, 1);
        Assert.Equal(Texts(firstDropped, Dropped), raised.Select(e => e.Message?.GetText()));
        Assert.All(raised, e => Assert.Equal(("a", "receive queue full", 1L), (e.Peer, e.Reason, e.Count)));

        var got = await TestCluster.ReadAsync(b, Capacity);
        Assert.Equal(Texts(firstKept, Capacity), got.Select(m => m.GetText()));
        Assert.Equal(Enumerable.Range(firstKept, Capacity).Select(i => (long)i), got.Select(m => m.Sequence));
        Assert.False(b.TryRead(out var extra), $"only {Capacity} kept, but also got {extra}");
        Assert.Equal(Dropped, raised.Count);

        static IEnumerable<string?> Texts(int first, int count) => Enumerable.Range(first, count).Select(i => $"m{i}");
    }

    [Fact]
    public async Task The_counters_move_with_the_traffic_and_agree_with_the_statistics()
    {
        const int Unicasts = 7, Broadcasts = 3;
        await using var cluster = new TestCluster();
        var (an, bn) = (UniqueName("a"), UniqueName("b"));
        // Listening before the nodes start: every measurement of theirs is in the sums.
        using var meters = new NodeMeters(an, bn);
        var a = await cluster.StartAsync(an);
        var b = await cluster.StartAsync(bn);
        using var probe = new EventProbe(a);
        await Task.WhenAll(a.WaitForPeersAsync([bn], Wait), b.WaitForPeersAsync([an], Wait));

        await meters.Changed.UntilAsync(() => meters.Sum(an, PeersConnected) >= 1, () => $"{PeersConnected} of a: {meters.Sum(an, PeersConnected)}", Wait);
        Assert.Equal(1, meters.Sum(an, PeersConnected));

        for (var i = 0; i < Unicasts; i++) await a.SendAsync(bn, $"u{i}");
        for (var i = 0; i < Broadcasts; i++) await b.BroadcastAsync($"b{i}");
        Assert.Equal(Enumerable.Range(0, Unicasts).Select(i => $"u{i}"), (await TestCluster.ReadAsync(b, Unicasts)).Select(m => m.GetText()));
        Assert.Equal(Enumerable.Range(0, Broadcasts).Select(i => $"b{i}"), (await TestCluster.ReadAsync(a, Broadcasts)).Select(m => m.GetText()));

        // A message is queued for the reader before it is counted: wait for the counts, then check they stop there.
        await meters.Changed.UntilAsync(
            () => meters.Sum(an, MessagesSent) >= Unicasts && meters.Sum(bn, MessagesSent) >= Broadcasts
                && meters.Sum(bn, MessagesReceived) >= Unicasts && meters.Sum(an, MessagesReceived) >= Broadcasts,
            () => $"sent a {meters.Sum(an, MessagesSent)}, b {meters.Sum(bn, MessagesSent)}; received a {meters.Sum(an, MessagesReceived)}, b {meters.Sum(bn, MessagesReceived)}", Wait);
        Assert.Equal((Unicasts, Broadcasts), (meters.Sum(an, MessagesSent), meters.Sum(bn, MessagesSent)));
        Assert.Equal((Broadcasts, Unicasts), (meters.Sum(an, MessagesReceived), meters.Sum(bn, MessagesReceived)));
        // The statistics count each message just before the meter does.
        Assert.Equal((Unicasts, Broadcasts), (a.Statistics.MessagesSent, a.Statistics.MessagesReceived));
        Assert.Equal((Broadcasts, Unicasts), (b.Statistics.MessagesSent, b.Statistics.MessagesReceived));

        // Bytes are counted a frame at a time, the statistics first and the meter right after, and heartbeats and
        // acknowledgements go on: the two agree whenever no frame is between the two counts. Wait for such a moment
        // (a measurement read before and after the statistics, all three equal).
        foreach (var (node, instrument, statistic) in new (MessengerNode, string, Func<MessengerNode, long>)[]
        {
            (a, BytesSent, n => n.Statistics.BytesSent), (a, BytesReceived, n => n.Statistics.BytesReceived),
            (b, BytesSent, n => n.Statistics.BytesSent), (b, BytesReceived, n => n.Statistics.BytesReceived),
        })
        {
            long before = 0, stat = 0, after = 0;
            await meters.Changed.UntilAsync(
                () =>
                {
                    before = meters.Sum(node.Name, instrument);
                    stat = statistic(node);
                    after = meters.Sum(node.Name, instrument);
                    return before == stat && stat == after;
                },
                () => $"{instrument} of {node.Name}: measured {before}, then statistics {stat}, then measured {after}", Wait);
            Assert.True(stat > 0, $"{instrument} of {node.Name}: {stat}");
        }

        await b.DisposeAsync();
        await probe.WaitAsync("left", bn);
        Assert.Equal(0, meters.Sum(an, PeersConnected));
    }

    /// <summary>The sums of the long measurements of the meter "Messenger" for the named nodes, by instrument and
    /// by instrument and reason tag.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_stopped_node_leaves_no_peer_counted_as_connected(bool leave)
    {
        await using var cluster = new TestCluster();
        var (an, bn) = (UniqueName("a"), UniqueName("b"));
        using var meters = new NodeMeters(an, bn);
        var a = await cluster.StartAsync(an);
        var b = await cluster.StartAsync(bn);
        await Task.WhenAll(a.WaitForPeersAsync([bn], Wait), b.WaitForPeersAsync([an], Wait));
        await meters.Changed.UntilAsync(() => meters.Sum(an, PeersConnected) == 1, () => $"{PeersConnected} of a: {meters.Sum(an, PeersConnected)}", Wait);

        // Without a leave (a crash-like stop, or a leave that runs out of time) the peer is still in the table.
        await (leave ? a.DisposeAsync().AsTask() : a.AbandonForTestsAsync()).WaitAsync(Wait);
        Assert.Equal(0, meters.Sum(an, PeersConnected));
    }

    private sealed class NodeMeters : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<(string Node, string Instrument, string? Reason), long> _sums = new();

        public NodeMeters(params string[] nodes)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "Messenger") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                string? node = null, reason = null;
                foreach (var t in tags)
                {
                    if (t.Key == "node") node = t.Value as string;
                    else if (t.Key == "reason") reason = t.Value as string;
                }
                if (node is null || Array.IndexOf(nodes, node) < 0) return;
                _sums.AddOrUpdate((node, instrument.Name, null), value, (_, v) => v + value);
                if (reason is not null) _sums.AddOrUpdate((node, instrument.Name, reason), value, (_, v) => v + value);
                Changed.Pulse();
            });
            _listener.Start();
        }

        /// <summary>Pulsed after each measurement of the nodes.</summary>
        public ChangeSignal Changed { get; } = new();

        /// <summary>The sum of <paramref name="instrument"/>'s measurements of <paramref name="node"/>: all of them, or
        /// those with the tag <paramref name="reason"/>.</summary>
        public long Sum(string node, string instrument, string? reason = null) => _sums.GetValueOrDefault((node, instrument, reason));

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task A_flood_of_drops_is_raised_in_full_and_crowds_out_no_other_event()
    {
        // b's handler takes a little time per event, and a full queue of 10 drops nearly everything a sends: far
        // more drop events than the event queue holds one by one.
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { ReceiveQueueCapacity = 10 });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        long raised = 0, target = -1;
        var allRaised = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var left = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.MessageDropped += (_, e) =>
        {
            Assert.Equal(("a", "receive queue full"), (e.Peer, e.Reason));
            if (Interlocked.Add(ref raised, e.Count) == Volatile.Read(ref target)) allRaised.TrySetResult();
            Thread.SpinWait(200);
        };
        b.PeerLeft += (_, e) => left.TrySetResult();

        var run = Enumerable.Range(0, 1000).Select(_ => new OutgoingMessage(new byte[8])).ToArray();
        for (var i = 0; i < 100; i++) await a.SendManyAsync("b", run);
        await a.SendAsync("b", "last", topic: null, requireAck: true);
        await a.DisposeAsync();

        // PeerLeft, queued after every drop, is raised; and so is every drop, one by one or in sums.
        await left.Task.WaitAsync(TestCluster.Timeout);
        var dropped = b.Statistics.MessagesDropped;
        Assert.True(dropped > 50_000, $"only {dropped} dropped");
        Volatile.Write(ref target, dropped);
        if (Interlocked.Read(ref raised) == dropped) allRaised.TrySetResult();
        await allRaised.Task.WaitAsync(TestCluster.Timeout);
    }
}
