using System.Collections.Concurrent;
using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

public sealed class SupervisionTests
{
    [Fact]
    public async Task A_handler_that_throws_keeps_the_event_from_no_other_handler()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var (joined, left) = (new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));
        a.PeerJoined += (_, _) => throw new InvalidOperationException("the first handler fails");
        a.PeerJoined += (_, e) => joined.TrySetResult(e.Peer.Name);
        a.PeerLeft += (_, _) => throw new InvalidOperationException("the first handler fails");
        a.PeerLeft += (_, e) => left.TrySetResult(e.Peer.Name);

        var b = await cluster.StartAsync("b");
        Assert.Equal("b", await joined.Task.WaitAsync(TestCluster.Timeout));
        await b.DisposeAsync();
        Assert.Equal("b", await left.Task.WaitAsync(TestCluster.Timeout));
    }

    [Fact]
    public async Task Events_name_the_node_that_raised_them_as_their_sender()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var sender = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.PeerJoined += (s, _) => sender.TrySetResult(s);
        await cluster.StartAsync("b");
        Assert.Same(a, await sender.Task.WaitAsync(TestCluster.Timeout));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_a_link_restart_broadcasts_sent_once_both_ends_are_connected_arrive(bool insecure)
    {
        // b's link to a is made anew, its SUB to a's PUB with it. Both ends counted the other as connected all
        // along, so a's next broadcasts went to a subscription not yet made, and nobody counted them.
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = await cluster.StartPairAsync();

        await RestartAsync(b, "link:a", () => b.SendAsync("a", "wakes b's link").AsTask());
        await b.WaitForPeersAsync(["a"], TestCluster.Timeout);
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);

        for (var i = 0; i < 5; i++) await a.BroadcastAsync($"from a {i}");
        for (var i = 0; i < 5; i++) await b.BroadcastAsync($"from b {i}");
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"from a {i}"), await TextsAsync(b, 5, m => m.Kind == MessageKind.Broadcast));
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"from b {i}"), await TextsAsync(a, 5, m => m.Kind == MessageKind.Broadcast));
        Assert.Equal(0, a.Statistics.BroadcastsMissed + b.Statistics.BroadcastsMissed);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_a_publisher_restart_broadcasts_sent_once_the_peers_are_connected_arrive(bool insecure)
    {
        // A peer is joining until it answers the new publisher's probe, so that WaitForPeersAsync waits for that.
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = await cluster.StartPairAsync();

        await RestartAsync(a, "broadcast", () => a.BroadcastAsync("meets the fault").AsTask());
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);

        for (var i = 0; i < 5; i++) await a.BroadcastAsync($"after {i}");
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"after {i}"), await TextsAsync(b, 5, m => m.GetText() != "meets the fault"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Broadcasts_queued_across_a_publisher_restart_wait_until_the_peers_hear_the_new_one(bool insecure)
    {
        // The new PUB loses what it publishes before ZeroMQ has reconnected the peers' SUBs: what was queued at the
        // fault, and what came right after the restart, went out to nobody, and only the peers counted it missed.
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = await cluster.StartPairAsync();

        await RestartAsync(a, "broadcast", () => a.BroadcastAsync("meets the fault").AsTask());
        for (var i = 0; i < 5; i++) await a.BroadcastAsync($"after {i}");

        Assert.Equal(["meets the fault", .. Enumerable.Range(0, 5).Select(i => $"after {i}")], await TextsAsync(b, 6, m => m.Kind == MessageKind.Broadcast));
        Assert.Equal(0, b.Statistics.BroadcastsMissed);
        Assert.Equal(0, a.Statistics.MessagesDropped);
    }

    /// <summary>Arms a fault in <paramref name="actor"/> of <paramref name="node"/>, does the work that meets it, and
    /// waits until the supervisor has restarted the actor.</summary>
    private static async Task RestartAsync(MessengerNode node, string actor, Func<Task> work)
    {
        var restarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        node.ActorRestarted += (_, e) => { if (e.Actor == actor) restarted.TrySetResult(); };
        node.Faults.Throw(actor);
        await work();
        await restarted.Task.WaitAsync(TestCluster.Timeout);
    }

    /// <summary>The texts of the next <paramref name="count"/> messages that <paramref name="keep"/> accepts.</summary>
    private static async Task<List<string?>> TextsAsync(MessengerNode node, int count, Func<MessengerMessage, bool> keep)
    {
        var got = new List<string?>();
        using var cancel = new CancellationTokenSource(TestCluster.Timeout);
        while (got.Count < count)
        {
            var m = await node.ReadAsync(cancel.Token);
            if (keep(m)) got.Add(m.GetText());
        }
        return got;
    }

    [Fact]
    public async Task A_seed_greeting_from_a_connected_peer_leaves_it_connected()
    {
        // The greeting is a new session from b, whose subscription to a is unchanged: a goes on counting it as
        // connected (a node that had taken every new session for a new subscription kept b joining for good).
        await using var cluster = new TestCluster();
        var (a, b) = await cluster.StartPairAsync();
        Assert.Equal(1, await a.Runtime.SessionCountAsync("b"));

        await b.ConnectAsync(a.Endpoint, TestCluster.Timeout);
        Assert.Equal(2, await a.Runtime.SessionCountAsync("b"));
        Assert.Equal(PeerState.Connected, a.GetPeer("b")!.State);
        await a.BroadcastAsync("after the greeting");
        Assert.Equal("after the greeting", (await TestCluster.ReadAsync(b, 1))[0].GetText());
    }

    [Theory]
    [InlineData("unicast")]
    [InlineData("broadcast")]
    [InlineData("link:a")]
    [InlineData("node")]
    public async Task A_failed_actor_is_restarted_and_the_node_keeps_serving(string actor)
    {
        await using var cluster = new TestCluster();
        var (a, b) = await cluster.StartPairAsync();
        var restarted = new TaskCompletionSource<ActorRestartedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.ActorRestarted += (_, e) => restarted.TrySetResult(e);

        b.Faults.Throw(actor);
        // Traffic in both directions makes every actor of b work: its ROUTER, its link to a, its PUB, its loop.
        await a.SendAsync("b", "to b", topic: null, requireAck: true);
        await b.BroadcastAsync("from b");
        await b.SendAsync("a", "from b, unicast");
        var e = await restarted.Task.WaitAsync(TestCluster.Timeout);
        Assert.Equal(actor, e.Actor);
        Assert.Contains("fault injected", e.Cause);
        Assert.Equal(1, b.Restarts);
        Assert.Contains(actor, b.LastError);
        Assert.Equal(NodeState.Running, b.State);

        // After the restart, acknowledged traffic flows both ways.
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await b.WaitForPeersAsync(["a"], TestCluster.Timeout);
        await a.SendAsync("b", "after", topic: null, requireAck: true);
        await b.SendAsync("a", "after, from b", topic: null, requireAck: true);
        Assert.Contains("after", (await TestCluster.ReadAsync(b, 2)).Select(m => m.GetText()));

        // Broadcasts go on too (a restarted publisher once left its queue unflushed for good). A rebound publisher
        // loses what it sends before the subscribers have reconnected, so broadcast until one arrives, bounded.
        var heard = false;
        for (var i = 0; i < 100 && !heard; i++)
        {
            await b.BroadcastAsync("broadcast after the restart");
            using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            try
            {
                while (!heard) heard = (await a.ReadAsync(wait.Token)).GetText() == "broadcast after the restart";
            }
            catch (OperationCanceledException)
            {
                // none yet: broadcast again
            }
        }
        Assert.True(heard, "a hears b's broadcasts after the restart");
    }

    [Fact]
    public async Task Failures_faster_than_the_restart_limit_escalate_to_faulted()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { MaxRestarts = 3, RestartPeriod = TimeSpan.FromSeconds(30) });
        var faulted = new TaskCompletionSource<NodeFaultedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        var restarts = new ConcurrentQueue<string>();
        a.Faulted += (_, e) => faulted.TrySetResult(e);
        a.ActorRestarted += (_, e) => restarts.Enqueue(e.Actor);
        for (var i = 0; i < 4; i++) a.Faults.Throw("node");
        var e = await faulted.Task.WaitAsync(TestCluster.Timeout); // the node loop's own timer trips the faults
        Assert.Equal("node", e.Actor);
        Assert.Contains("more than 3 restarts", e.Cause);
        Assert.Equal(3, restarts.Count);
        Assert.Equal(NodeState.Faulted, a.State);
        await Assert.ThrowsAsync<NodeStoppedException>(async () => await a.BroadcastAsync("late"));
    }

    [Fact]
    public async Task A_hung_node_loop_escalates_to_faulted()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { HangTimeout = TimeSpan.FromSeconds(1) });
        var faulted = new TaskCompletionSource<NodeFaultedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Faulted += (_, e) => faulted.TrySetResult(e);
        a.InjectHangForTests(TimeSpan.FromSeconds(6)); // longer than two watchdog checks past the timeout
        var e = await faulted.Task.WaitAsync(TestCluster.Timeout);
        Assert.Contains("health probe", e.Cause);
        Assert.Equal(NodeState.Faulted, a.State);
    }

    [Fact]
    public async Task A_node_faulted_by_a_failure_that_keeps_recurring_in_its_loop_still_says_leave()
    {
        // Every piece of the loop's work fails, the stop's leave included: the peer saw the node unreachable, and
        // the stop waited out LeaveTimeout and its margin.
        await using var cluster = new TestCluster();
        var (a, b) = await cluster.StartPairAsync(configureB: o => o with { MaxRestarts = 3, LeaveTimeout = TestCluster.Timeout });
        using var probe = new EventProbe(a);
        var faulted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Faulted += (_, _) => faulted.TrySetResult();
        for (var i = 0; i < 1000; i++) b.Faults.Throw("node");
        await faulted.Task.WaitAsync(TestCluster.Timeout);

        await b.DisposeAsync().AsTask().WaitAsync(TestCluster.Timeout);
        await probe.WaitAsync("left", "b");
    }

    [Fact]
    public async Task A_stop_whose_leave_fails_ends_without_waiting_out_the_leave_timeout()
    {
        await using var cluster = new TestCluster();
        // Its margin past LeaveTimeout is 5 s: a stop that waited it out would not end within the test's timeout.
        var (a, b) = await cluster.StartPairAsync(TestCluster.Patient, o => o with { LeaveTimeout = TestCluster.Timeout });
        a.Faults.MuteBroadcastAcks = true;
        for (var i = 0; i < 10; i++) await b.BroadcastAsync($"b{i}");
        Assert.Equal(10, (await TestCluster.ReadAsync(a, 10)).Count);
        b.Faults.Throw("leave");

        await b.DisposeAsync().AsTask().WaitAsync(TestCluster.Timeout);
        Assert.Equal(NodeState.Stopped, b.State);
        // What a did not acknowledge is counted, as a leave that ran out of time counts it.
        Assert.Equal(10, b.Statistics.MessagesDropped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_node_that_stops_right_after_its_publisher_restarts_leaves_once_the_peer_has_what_it_held(bool insecure)
    {
        // The tick, which probes peers for a publisher made anew, does not run while the node leaves; and a peer it
        // still probed was told LEAVE at once, and what waited for it counted dropped.
        await using var cluster = new TestCluster { Insecure = insecure };
        var (a, b) = await cluster.StartPairAsync(o => o with { LeaveTimeout = TestCluster.Timeout });
        using var probe = new EventProbe(b);

        await RestartAsync(a, "broadcast", () => a.BroadcastAsync("meets the fault").AsTask());
        await a.BroadcastAsync("last words");
        await a.DisposeAsync();

        await probe.WaitAsync("left", "a");
        Assert.Equal(["meets the fault", "last words"], (await TestCluster.ReadAsync(b, 2)).Select(m => m.GetText()));
        Assert.Equal(0, a.Statistics.MessagesDropped);
    }

    [Fact]
    public async Task A_node_whose_loop_hangs_for_good_still_stops()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { HangTimeout = TimeSpan.FromSeconds(1) });
        var faulted = new TaskCompletionSource<NodeFaultedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Faulted += (_, e) => faulted.TrySetResult(e);
        a.InjectHangForTests(TimeSpan.FromSeconds(60));
        await faulted.Task.WaitAsync(TestCluster.Timeout);

        // The stop goes on without the loop: the reader is told the end, and a send fails.
        await a.DisposeAsync().AsTask().WaitAsync(TestCluster.Timeout);
        await foreach (var _ in a.ReadAllAsync().WithCancellation(new CancellationTokenSource(TestCluster.Timeout).Token)) Assert.Fail("a message from a stopped node");
        await Assert.ThrowsAsync<NodeStoppedException>(async () => await a.BroadcastAsync("after the stop"));
    }

    [Fact]
    public async Task A_failed_beacon_is_replaced_and_discovery_goes_on()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var restarted = new TaskCompletionSource<ActorRestartedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.ActorRestarted += (_, e) => restarted.TrySetResult(e);
        a.Faults.Throw("beacon");
        Assert.Equal("beacon", (await restarted.Task.WaitAsync(TestCluster.Timeout)).Actor);
        var b = await cluster.StartAsync("b");
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
    }
}
