using Messenger.Tests.Support;
using Messenger.Transport;

namespace Messenger.Tests.Hosting;

public sealed class AcknowledgedDeliveryTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_acknowledged_send_returns_once_the_peer_has_the_message(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await a.SendAsync("b", "sure", topic: null, requireAck: true);
        Assert.Equal(1, b.PendingReceiveCount);
        Assert.Equal("sure", (await TestCluster.ReadAsync(b, 1))[0].GetText());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Frames_lost_with_a_session_are_sent_again_and_arrive_exactly_once(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await a.SendAsync("b", "before", topic: null, requireAck: true);
        Assert.Equal("before", (await TestCluster.ReadAsync(b, 1))[0].GetText());

        // b forgets its sessions: the frames that meet the old session are lost. a must handshake again and send
        // what b did not acknowledge; nothing may arrive twice.
        await b.Faults.ForgetSessions().WaitAsync(TestCluster.Timeout);
        var sends = Enumerable.Range(1, 3).Select(i => a.SendAsync("b", $"lost {i}", topic: null, requireAck: true)).ToList();
        await a.SendAsync("b", "after", topic: null, requireAck: true);
        await Task.WhenAll(sends).WaitAsync(TestCluster.Timeout);
        var got = (await TestCluster.ReadAsync(b, 4)).Select(m => m.GetText()).ToList();
        Assert.Equal(["lost 1", "lost 2", "lost 3", "after"], got);
        Assert.False(b.TryRead(out var dup), $"no duplicate, but got {dup}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_ACK_for_a_restarted_peers_old_process_is_not_owed_to_its_new_one(bool insecure)
    {
        // a's data receiver delivers the old b's message; before it owes the ACK for it, a takes the new b for a new
        // process, whose streams count afresh. That ACK counts in the old numbering: owed to the new process, the
        // next DATA to it would acknowledge what it sends before it arrives.
        await using var cluster = new TestCluster { Insecure = insecure };
        var key = MessengerKeyPair.Generate();
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { KeyPair = key });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        await TestCluster.OpenDataConnectionAsync(b, a);

        var release = a.Faults.HoldBeforeDataAck();
        try
        {
            await b.SendAsync("a", "old");
            await a.Faults.DataAckHeld.WaitAsync(TestCluster.Timeout);
            using var probe = new EventProbe(a);
            await b.AbandonForTestsAsync();
            await probe.WaitAsync("unreachable", "b");
            var b2 = await cluster.StartAsync("b", o => o with { KeyPair = key });
            await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b2.WaitForPeersAsync(["a"], TestCluster.Timeout));
        }
        finally
        {
            release();
        }
        Assert.Equal(0, await a.Faults.AckOwedAfterHold.WaitAsync(TestCluster.Timeout));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stop_right_after_the_peers_data_receiver_restarted_sends_what_it_lost_again(bool insecure)
    {
        // b's data receiver fails at a's first frame and tells a's data connection RESET; a stops at once. The leave
        // must read that RESET and send again on the link what b lost, as the tick would: else it waits for b's
        // acknowledgement to its deadline, and counts everything dropped.
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = await cluster.StartPairAsync(o => o with { LeaveTimeout = TestCluster.Timeout * 2 });
        await TestCluster.OpenDataConnectionAsync(a, b);
        const int Count = 300;
        b.Faults.Throw("data");
        for (var i = 0; i < Count; i++) await a.SendAsync("b", $"m{i}");

        await a.StopAsync().WaitAsync(TestCluster.Timeout);
        Assert.Equal(0, a.Statistics.MessagesDropped);
        Assert.Equal(Enumerable.Range(0, Count).Select(i => $"m{i}"), (await TestCluster.ReadAsync(b, Count)).Select(m => m.GetText()));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_unacknowledged_send_to_a_vanished_peer_is_reported(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var a = await cluster.StartAsync("a", o => o with { AckTimeout = TimeSpan.FromSeconds(1), PeerGoneAfter = TimeSpan.FromSeconds(30) });
        var b = await cluster.StartAsync("b");
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await b.AbandonForTestsAsync();
        var error = await Assert.ThrowsAsync<MessengerException>(() => a.SendAsync("b", "anyone?", topic: null, requireAck: true));
        Assert.Contains(error.ErrorId, new[] { "AckTimeout", "NotAcknowledged" });
        Assert.Contains("may or may not", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_node_that_stops_counts_nothing_dropped_that_its_peer_delivered(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        var reports = new List<string>();
        a.MessageDropped += (_, e) => { lock (reports) reports.Add($"{e.Count}: {e.Reason}"); };
        for (var i = 0; i < 3; i++) await a.SendAsync("b", $"m{i}");
        Assert.Equal(["m0", "m1", "m2"], (await TestCluster.ReadAsync(b, 3)).Select(m => m.GetText()));

        // b owes the ACK of what it delivered (it waits a millisecond or two for an answer to carry it): it sends it
        // before it answers a's LEAVE.
        await a.DisposeAsync();
        Assert.True(a.Statistics.MessagesDropped == 0, $"a counts {a.Statistics.MessagesDropped} dropped, which b delivered: {string.Join("; ", reports)}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_peer_counts_nothing_dropped_that_a_stopping_node_delivered(bool insecure)
    {
        // The stopping node owes the ACK of what it delivered; on its own way it could arrive after the LEAVE, and
        // the peer would count as dropped what was delivered. Several rounds: each is a race the ACK used to lose.
        for (var round = 0; round < 3; round++)
        {
            await using var cluster = new TestCluster { Insecure = insecure };
            var nodes = await cluster.StartConnectedAsync("a", "b");
            var (a, b) = (nodes[0], nodes[1]);
            using var probe = new EventProbe(b);
            await b.SendAsync("a", "last");
            Assert.Equal("last", (await TestCluster.ReadAsync(a, 1))[0].GetText());

            await a.DisposeAsync();
            await probe.WaitAsync("left", "a");
            Assert.True(b.Statistics.MessagesDropped == 0, $"round {round}: b counts {b.Statistics.MessagesDropped} dropped, which a delivered");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_message_a_stopping_node_had_not_delivered_by_its_final_ACK_is_not_delivered(bool insecure)
    {
        // b's data receiver has read a's last message and not yet delivered it when b says its final ACK and LEAVE:
        // a counts the message dropped, and b delivered it all the same, before its stop ended the data connection.
        await using var cluster = new TestCluster { Insecure = insecure };
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { LeaveTimeout = TestCluster.Timeout });
        var c = await cluster.StartAsync("c", TestCluster.Patient);
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a", "c"], TestCluster.Timeout), c.WaitForPeersAsync(["b"], TestCluster.Timeout));
        await TestCluster.OpenDataConnectionAsync(a, b);
        using var probe = new EventProbe(a);

        // c answers no LEAVE while its loop is held: b's stop waits for it, its links to a still up.
        using var releaseC = new ManualResetEventSlim();
        var heldC = c.Runtime.InvokeAsync(() => releaseC.Wait(TestCluster.Timeout));
        var release = b.Faults.HoldDataReceiver();
        Task stopping;
        try
        {
            await a.SendAsync("b", "last");
            await b.Faults.DataReceiverHeld.WaitAsync(TestCluster.Timeout);
            var rejected = b.Statistics.FramesRejected;
            stopping = b.DisposeAsync().AsTask();
            await probe.WaitAsync("left", "b");
            release();
            Assert.True(SpinWait.SpinUntil(() => b.PendingReceiveCount > 0 || b.Statistics.FramesRejected > rejected, TestCluster.Timeout), "b's data receiver did nothing with the frame");
        }
        finally
        {
            release();
            releaseC.Set();
        }
        Assert.True(await heldC, "c's loop was held until released");
        await stopping.WaitAsync(TestCluster.Timeout);

        Assert.False(b.TryRead(out var delivered), $"b delivered '{delivered?.GetText()}', which a counts dropped");
        Assert.Equal(1, a.Statistics.MessagesDropped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stopping_node_says_LEAVE_only_once_its_last_messages_are_acknowledged(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var a = await cluster.StartAsync("a", o => o with { LeaveTimeout = TestCluster.Timeout });
        var b = await cluster.StartAsync("b");
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        await TestCluster.OpenDataConnectionAsync(a, b);
        var left = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.PeerLeft += (_, _) => left.TrySetResult();

        // The last message goes on the data connection, which b's receiver does not read for now; the LEAVE would
        // go on the link's own connection. Sent at once, it would overtake the message, and b would forget a first.
        var release = b.Faults.HoldDataReceiver();
        Task stopping;
        try
        {
            await a.SendAsync("b", "last words");
            stopping = a.DisposeAsync().AsTask();
            using var deadline = new CancellationTokenSource(TestCluster.Timeout);
            while (await a.Runtime.LeavesWaitingAsync().WaitAsync(deadline.Token) != 1) { }
            Assert.False(left.Task.IsCompleted, "b took a's LEAVE before a's last message");
        }
        finally
        {
            release();
        }
        await stopping.WaitAsync(TestCluster.Timeout);
        await left.Task.WaitAsync(TestCluster.Timeout);
        Assert.Equal("last words", (await TestCluster.ReadAsync(b, 1))[0].GetText());
        Assert.Equal(0, a.Statistics.MessagesDropped);
    }

    [Fact]
    public async Task A_peer_that_acknowledges_nothing_in_time_still_hears_the_stopping_node_leave()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { LeaveTimeout = TimeSpan.FromMilliseconds(300) });
        var b = await cluster.StartAsync("b", TestCluster.Patient);
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        await TestCluster.OpenDataConnectionAsync(a, b);
        // An acknowledged send returns once b has everything up to it: only the message below is left unacknowledged.
        await a.SendAsync("b", "settled", topic: null, requireAck: true);
        await TestCluster.ReadAsync(b, 1);
        var left = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.PeerLeft += (_, e) => left.TrySetResult(e.Reason);

        // b cannot acknowledge a's last message before a's leave runs out of time; b is patient, so only a LEAVE
        // makes it see a go.
        var release = b.Faults.HoldDataReceiver();
        try
        {
            await a.SendAsync("b", "never acknowledged in time");
            await a.DisposeAsync();
            Assert.Equal("left", await left.Task.WaitAsync(TestCluster.Timeout));
        }
        finally
        {
            release();
        }
        Assert.Equal(1, a.Statistics.MessagesDropped);
    }

    [Fact]
    public async Task An_acknowledgement_carried_in_a_lost_frame_is_carried_again_when_the_frame_is()
    {
        // b sends only on its link's own connection, into a 64 KiB queue: a 40 KiB frame it holds until a
        // acknowledges it leaves no room for the next.
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { DirectSends = false, SendQueueLimitBytes = 64 * 1024 });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        var body = new byte[40 * 1024];
        using var deadline = new CancellationTokenSource(TestCluster.Timeout * 3);
        for (var attempt = 1; ; attempt++)
        {
            // Both idle, and a's data connection ready: a's answer goes direct, on it, carrying its ACK of b's frame.
            while (await a.Runtime.DataConnectionAsync("b") != DataConnectionState.Ready
                   || await a.Runtime.UnacknowledgedFramesAsync("b") != 0 || await b.Runtime.UnacknowledgedFramesAsync("a") != 0)
            {
                Assert.False(deadline.IsCancellationRequested, "never idle with a ready data connection");
                await a.SendAsync("b", "idle?");
                await TestCluster.ReadAsync(b, 1);
            }
            var (inData, direct) = (a.Runtime.AcksSent.InData, a.Statistics.MessagesSentDirect);
            a.Faults.LoseDataFrames(1);
            await b.SendAsync("a", body);
            Assert.Equal(body.Length, (await TestCluster.ReadAsync(a, 1))[0].Body.Length);
            await a.SendAsync("b", $"answer {attempt}");
            var lostTheAck = a.Runtime.AcksSent.InData - inData == 1 && a.Statistics.MessagesSentDirect - direct == 1;
            if (a.Statistics.MessagesSentDirect - direct != 1) a.Faults.TakeLostDataFrame();
            // a notices its answer unacknowledged, gives the data connection up and sends the answer again.
            Assert.Equal($"answer {attempt}", (await TestCluster.ReadAsync(b, 1))[0].GetText());
            if (!lostTheAck)
            {
                Assert.True(attempt < 10, "the answer never carried the ACK in a frame that was lost");
                continue;
            }
            // The ACK of b's frame went with the lost frame: the answer sent again must carry it, or b's frame stays
            // unacknowledged and its next send waits for room for good.
            await b.SendAsync("a", body).AsTask().WaitAsync(TestCluster.Timeout);
            return;
        }
    }
}
