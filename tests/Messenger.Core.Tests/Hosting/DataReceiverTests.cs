using System.Diagnostics.Metrics;
using System.Net;
using System.Reflection;
using System.Net.Sockets;
using Messenger.Protocol;
using Messenger.Tests.Support;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Hosting;

/// <summary>The data receiver: a ROUTER on a port of its own, read by a thread of its own, to which peers' data
/// connections move after their handshake (docs/PROTOCOL.md, "Data connections").</summary>
public sealed class DataReceiverTests
{
    /// <summary>Sends one message at a time until <paramref name="direct"/> of them went out on the data connection.</summary>
    private static Task<int> ExchangeUntilDirectAsync(MessengerNode from, MessengerNode to, long direct)
    {
        var start = from.Statistics.MessagesSentDirect;
        return ExchangeUntilAsync(from, to, _ => from.Statistics.MessagesSentDirect - start >= direct,
            sent => $"{from.Name} sent {from.Statistics.MessagesSentDirect - start} of {sent} messages direct");
    }

    /// <summary>Sends one message at a time, each read at the other end (once, in order) before the next, until
    /// <paramref name="enough"/> holds for the count sent; returns that count.</summary>
    private static async Task<int> ExchangeUntilAsync(MessengerNode from, MessengerNode to, Func<int, bool> enough, Func<int, string> failure)
    {
        var sent = 0;
        using var deadline = new CancellationTokenSource(TestCluster.Timeout);
        while (!enough(sent))
        {
            Assert.False(deadline.IsCancellationRequested, failure(sent));
            await from.SendAsync(to.Name, $"m{++sent}");
            Assert.Equal($"m{sent}", (await TestCluster.ReadAsync(to, 1))[0].GetText());
        }
        return sent;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Data_connections_move_to_the_data_port_and_their_messages_arrive_there_in_order(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        Assert.NotEqual(0, b.DataPort);
        Assert.DoesNotContain(b.DataPort, new[] { b.Port, b.PublishPort });

        await ExchangeUntilDirectAsync(a, b, 20);
        Assert.Equal(1, b.Runtime.DataRouteCount);
        var before = b.Runtime.DataReceiverMessages;
        var sequence = b.Statistics.MessagesReceived;

        // A burst while the data connection is up: every message comes through the data receiver, once, in order.
        const int burst = 2000;
        for (var i = 0; i < burst; i++) await a.SendAsync("b", $"burst {i}");
        var got = await TestCluster.ReadAsync(b, burst);
        Assert.Equal(Enumerable.Range(0, burst).Select(i => $"burst {i}"), got.Select(m => m.GetText()));
        Assert.Equal(Enumerable.Range(1, burst).Select(i => sequence + i), got.Select(m => m.Sequence));
        Assert.Equal(burst, b.Runtime.DataReceiverMessages - before);
        Assert.All(got, m => Assert.Equal("a", m.From));
        // The link's own session is the only one on b's unicast port.
        Assert.Equal(1, await b.Runtime.SessionCountAsync("a"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_data_connection_whose_session_ends_is_replaced_and_nothing_is_lost(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await ExchangeUntilDirectAsync(a, b, 5);
        Assert.Equal(1, b.Runtime.DataRouteCount);

        // b forgets every session: the data receiver forgets the data connection with its link session, answers its
        // next frame RESET, and a sends what was not acknowledged again and opens a new data connection.
        // The forgetting happens at b's next frame on its unicast port (a heartbeat at the latest): before the sends,
        // which would otherwise go by on the data connection before it, and the new one's messages after them.
        await b.Faults.ForgetSessions().WaitAsync(TestCluster.Timeout);
        var sends = Enumerable.Range(1, 5).Select(i => a.SendAsync("b", $"lost {i}", topic: null, requireAck: true)).ToList();
        await Task.WhenAll(sends).WaitAsync(TestCluster.Timeout);
        Assert.Equal(Enumerable.Range(1, 5).Select(i => $"lost {i}"), (await TestCluster.ReadAsync(b, 5)).Select(m => m.GetText()));
        Assert.False(b.TryRead(out var dup), $"no duplicate, but got {dup}");

        var before = b.Runtime.DataReceiverMessages;
        await ExchangeUntilDirectAsync(a, b, 5);
        Assert.True(b.Runtime.DataReceiverMessages - before >= 5, "the new data connection's messages came through the data receiver");
        Assert.Equal(1, b.Runtime.DataRouteCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Frames_lost_on_a_data_connection_are_noticed_by_the_gap_they_leave_and_sent_again(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await ExchangeUntilDirectAsync(a, b, 3);
        var rejected = b.Statistics.FramesRejected;

        // The next frame a sends on its data connection never arrives, as when a TCP connection breaks and ZeroMQ
        // connects it again. The frame after it would be delivered without it and acknowledge it: b sees the gap
        // instead, ends the data connection's session, and a sends the lost one again, then the next.
        // "next" must go in a frame of its own: from a link with nothing unacknowledged, the frame to lose is the
        // first to wait for an acknowledgement.
        using var deadline = new CancellationTokenSource(TestCluster.Timeout);
        while (await a.Runtime.UnacknowledgedFramesAsync("b") != 0) Assert.False(deadline.IsCancellationRequested, "a's frames were never acknowledged");
        a.Faults.LoseDataFrames(1);
        await a.SendAsync("b", "lost on the way");
        while (await a.Runtime.UnacknowledgedFramesAsync("b") == 0) Assert.False(deadline.IsCancellationRequested, "the frame to lose never went out");
        await a.SendAsync("b", "next", topic: null, requireAck: true).WaitAsync(TestCluster.Timeout);
        var got = await TestCluster.ReadAsync(b, 2);
        Assert.Equal(["lost on the way", "next"], got.Select(m => m.GetText()));
        Assert.False(b.TryRead(out var dup), $"no duplicate, but got {dup}");
        Assert.Equal(1, b.Statistics.FramesRejected - rejected);
    }

    [Fact]
    public async Task Strangers_on_the_data_port_are_dropped_counted_and_told_reset_while_members_talk()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await ExchangeUntilDirectAsync(a, b, 3);
        var rejectedBefore = b.Statistics.FramesRejected;

        using var stranger = new DealerSocket();
        stranger.Options.Linger = TimeSpan.Zero;
        stranger.Connect($"tcp://127.0.0.1:{b.DataPort}");
        var random = new Random(7);
        const int junk = 200;
        for (var i = 0; i < junk; i++)
        {
            var body = new byte[random.Next(0, 120)];
            random.NextBytes(body);
            stranger.SendFrame(i % 2 == 0 ? [Wire.Magic, Wire.SecureVersion, (byte)FrameType.Sealed, .. body] : body);
        }

        // One RESET for the connection (not one per frame), and nothing else.
        Assert.True(stranger.TryReceiveFrameBytes(TestCluster.Timeout, out var reply), "no RESET came back");
        Assert.Equal([Wire.Magic, Wire.SecureVersion, (byte)FrameType.Reset], reply);
        using var counted = new CancellationTokenSource(TestCluster.Timeout);
        while (b.Statistics.FramesRejected - rejectedBefore < junk)
        {
            Assert.False(counted.IsCancellationRequested, $"{b.Statistics.FramesRejected - rejectedBefore} of {junk} frames counted as rejected");
            await ExchangeUntilDirectAsync(a, b, 1);
        }
        Assert.Equal(junk, b.Statistics.FramesRejected - rejectedBefore);
        Assert.False(stranger.TryReceiveFrameBytes(TimeSpan.Zero, out var more), $"a second answer: {(more is null ? "" : Convert.ToHexString(more))}");
        Assert.False(b.TryRead(out var leaked), $"nothing of the stranger's delivered, but got {leaked}");
        await ExchangeUntilDirectAsync(a, b, 3);
    }

    [Fact]
    public async Task A_stranger_who_makes_NetMQ_throw_at_a_taken_routing_id_neither_stops_the_node_nor_the_data_port()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await ExchangeUntilDirectAsync(a, b, 3);

        // NetMQ's ROUTER makes up the routing id 0 + a counter (from a random start) for a connection that brings
        // none, and throws when a peer has claimed it. The counter is set here (reflection into NetMQ 4.0.4.5) to
        // where a stranger's claimed id waits, as a stranger holding many ids gets there by opening many connections.
        var router = (NetMQSocket)typeof(Messenger.Transport.NodeRuntime).GetField("_dataRouter", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(b.Runtime)!;
        var core = typeof(NetMQSocket).GetProperty("SocketHandle", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(router)!;
        core.GetType().GetField("m_nextPeerId", BindingFlags.Instance | BindingFlags.NonPublic)!.SetValue(core, 4242);
        byte[] claimed = [0, .. BitConverter.GetBytes(4242)];
        var rejected = b.Statistics.FramesRejected;
        using var holder = new DealerSocket();
        holder.Options.Linger = TimeSpan.Zero;
        holder.Options.Identity = claimed;
        holder.Connect($"tcp://127.0.0.1:{b.DataPort}");
        holder.SendFrame("claim");
        await WaitForRejectsAsync(b, rejected + 1);

        using var anonymous = new DealerSocket();
        anonymous.Options.Linger = TimeSpan.Zero;
        anonymous.Connect($"tcp://127.0.0.1:{b.DataPort}");
        anonymous.SendFrame("collide");
        using var later = new DealerSocket();
        later.Options.Linger = TimeSpan.Zero;
        later.Connect($"tcp://127.0.0.1:{b.DataPort}");
        later.SendFrame("after");
        // The stranger after the clash is still read (and rejected): the data port works on.
        await WaitForRejectsAsync(b, rejected + 2);
        Assert.Equal(NodeState.Running, b.State);
        await ExchangeUntilDirectAsync(a, b, 3);
        Assert.Equal(NodeState.Running, b.State);
    }

    /// <summary>Waits until the node has rejected <paramref name="atLeast"/> frames, looking again at each rejection
    /// recorded in <c>messenger.frames.rejected</c>.</summary>
    private static async Task WaitForRejectsAsync(MessengerNode node, long atLeast)
    {
        var rejected = new ChangeSignal();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Messenger" && instrument.Name == "messenger.frames.rejected") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, _, _) => rejected.Pulse());
        listener.Start();
        await rejected.UntilAsync(() => node.Statistics.FramesRejected >= atLeast, () => $"{node.Name} rejected {node.Statistics.FramesRejected} frames, not {atLeast}", TestCluster.Timeout);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_failed_data_receiver_is_restarted_and_what_it_dropped_arrives(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await ExchangeUntilDirectAsync(a, b, 3);
        var restarted = new TaskCompletionSource<ActorRestartedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.ActorRestarted += (_, e) => restarted.TrySetResult(e);

        b.Faults.Throw("data");
        await a.SendAsync("b", "hit by the fault", topic: null, requireAck: true).WaitAsync(TestCluster.Timeout);
        var e = await restarted.Task.WaitAsync(TestCluster.Timeout);
        Assert.Equal("data", e.Actor);
        Assert.Contains("fault injected", e.Cause);
        Assert.Equal("hit by the fault", (await TestCluster.ReadAsync(b, 1))[0].GetText());
        Assert.Equal(NodeState.Running, b.State);
        var before = b.Runtime.DataReceiverMessages;
        await ExchangeUntilDirectAsync(a, b, 3);
        Assert.True(b.Runtime.DataReceiverMessages > before, "the data receiver serves again");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_data_port_out_of_reach_costs_no_message_and_the_link_carries_them(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var log = new CapturingLoggerFactory();
        var (a, b) = (await cluster.StartAsync("a", o => o with { LoggerFactory = log }), await cluster.StartAsync("b"));
        // b tells its peers a port where nobody listens, as a firewall or a container publishing only the unicast
        // port would have it: a's data connection connects nowhere, and ZeroMQ keeps what is sent on it queued.
        b.Runtime.AnnouncedDataPort = TestCluster.FreeTcpPort();
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);

        // One at a time, each read before the next. Once the data connection is ready, a's messages go to it and
        // wait there: a gives it up when nothing has been acknowledged for 2 s, and sends them again on the link's
        // own connection. Each arrives once, in order; the data connection is tried again, later each time.
        const string givenUp = "nothing sent on it was acknowledged";
        await ExchangeUntilAsync(a, b, sent => log.Contains(1102, givenUp) && sent >= 10,
            sent => $"the data connection to b was never given up after {sent} messages: {log.All}");
        Assert.False(b.TryRead(out var dup), $"no duplicate, but got {dup}");
        Assert.Equal(0, b.Runtime.DataReceiverMessages);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_fixed_data_port_is_used_and_a_bad_one_is_a_configuration_error(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var port = TestCluster.FreeTcpPort();
        var b = await cluster.StartAsync("b", o => o with { DataPort = port });
        Assert.Equal(port, b.DataPort);
        var a = await cluster.StartAsync("a");
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await ExchangeUntilDirectAsync(a, b, 3);

        var taken = await Assert.ThrowsAsync<MessengerConfigurationException>(() => cluster.StartAsync("c", o => o with { DataPort = port }));
        Assert.Equal("DataPort", taken.Option);
        var range = await Assert.ThrowsAsync<MessengerConfigurationException>(() => cluster.StartAsync("d", o => o with { DataPort = 70_000 }));
        Assert.Equal("DataPort", range.Option);
    }

    [Fact]
    public async Task A_peer_whose_link_restarts_again_and_again_leaves_no_sessions_behind()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        await ExchangeUntilDirectAsync(b, a, 2);
        Assert.Equal((1, 1), (await a.Runtime.SessionCountAsync("b"), a.Runtime.DataRouteCount));

        // Each restart of b's link opens a new link session and data connection at a, under new routing ids; the old
        // connections close without a word.
        for (var i = 0; i < 4; i++)
        {
            var restarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            EventHandler<ActorRestartedEventArgs> onRestart = (_, _) => restarted.TrySetResult();
            b.ActorRestarted += onRestart;
            b.Faults.Throw("link:a");
            await b.SendAsync("a", $"kick {i}");
            await restarted.Task.WaitAsync(TestCluster.Timeout);
            b.ActorRestarted -= onRestart;
            await b.SendAsync("a", $"after {i}", topic: null, requireAck: true).WaitAsync(TestCluster.Timeout);
            Assert.Equal([$"kick {i}", $"after {i}"], (await TestCluster.ReadAsync(a, 2)).Select(m => m.GetText()));
            await ExchangeUntilDirectAsync(b, a, 2);
        }
        var (sessions, dataRoutes) = (await a.Runtime.SessionCountAsync("b"), a.Runtime.DataRouteCount);
        Assert.True(sessions <= 2 && dataRoutes <= 2, $"a holds {sessions} link sessions and {dataRoutes} data routes of b after 4 restarts of b's link");
    }
}
