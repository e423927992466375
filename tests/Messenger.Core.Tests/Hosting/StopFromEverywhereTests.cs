using Messenger.Protocol;
using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

/// <summary>A node stops from wherever it is told to: from one of its own event handlers, while a handler is stuck,
/// and while senders wait for room in a full queue, which then fail instead of waiting forever.</summary>
public sealed class StopFromEverywhereTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int QueueLimit = 64 * 1024;
    private static readonly byte[] Body = new byte[1000];

    public enum HowDisposed { Dispose, DisposeAsyncWaited }

    [Theory]
    [InlineData(HowDisposed.Dispose)]
    [InlineData(HowDisposed.DisposeAsyncWaited)]
    public async Task Disposing_from_a_PeerJoined_handler_returns_and_the_node_ends_stopped(HowDisposed how)
    {
        await using var cluster = new TestCluster();
        // Not the cluster's to dispose: a stop that hangs fails the test instead of hanging it.
        var a = await MessengerNode.StartAsync(cluster.Options("a"));
        var returned = new TaskCompletionSource<NodeState>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.PeerJoined += (_, _) =>
        {
            try
            {
                if (how == HowDisposed.Dispose) a.Dispose();
                else a.DisposeAsync().AsTask().GetAwaiter().GetResult();
                returned.TrySetResult(a.State);
            }
            catch (Exception e)
            {
                returned.TrySetException(e);
            }
        };
        await cluster.StartAsync("b");
        Assert.Equal(NodeState.Stopped, await returned.Task.WaitAsync(Timeout));
        await Assert.ThrowsAsync<NodeStoppedException>(async () => await a.BroadcastAsync("late"));
    }

    [Fact]
    public async Task Two_nodes_that_stop_at_once_do_not_wait_out_the_leave_timeout_for_each_others_answer()
    {
        // Their LEAVEs cross: each takes the other's LEAVE, answers it and closes its link, on which the other's
        // LEAVE_ACK was to come. Waited for all the same, it held each stop for the whole LeaveTimeout.
        await using var cluster = new TestCluster();
        var leave = TimeSpan.FromSeconds(60);
        var (a, b) = await cluster.StartPairAsync(o => o with { LeaveTimeout = leave }, o => o with { LeaveTimeout = leave });
        var stops = Task.WhenAll(Task.Run(() => a.StopAsync()), Task.Run(() => b.StopAsync()));
        await stops.WaitAsync(TestCluster.Timeout);
        Assert.Equal((NodeState.Stopped, NodeState.Stopped), (a.State, b.State));
    }

    [Fact]
    public async Task Waits_for_peers_and_for_a_seed_end_with_NodeStopped_when_the_node_stops()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false });
        var forPeers = a.WaitForPeersAsync(["nobody"], TimeSpan.FromDays(1));
        var forSeed = a.ConnectAsync("tcp://127.0.0.1:1", TimeSpan.FromDays(1));
        await a.DisposeAsync();
        await Assert.ThrowsAsync<NodeStoppedException>(() => forPeers.WaitAsync(TestCluster.Timeout));
        await Assert.ThrowsAsync<NodeStoppedException>(() => forSeed.WaitAsync(TestCluster.Timeout));
    }

    [Fact]
    public async Task Disposing_from_a_Faulted_handler_returns()
    {
        await using var cluster = new TestCluster();
        var a = await MessengerNode.StartAsync(cluster.Options("a") with { MaxRestarts = 0 });
        var returned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Faulted += (_, _) =>
        {
            a.Dispose();
            returned.TrySetResult();
        };
        a.Faults.Throw("node"); // the node loop's own timer trips it; no restart is allowed
        await returned.Task.WaitAsync(Timeout);
        Assert.Equal(NodeState.Faulted, a.State);
        await Assert.ThrowsAsync<NodeStoppedException>(async () => await a.BroadcastAsync("late"));
    }

    [Fact]
    public async Task DisposeAsync_completes_while_a_handler_is_blocked_and_says_which_event_held_it()
    {
        await using var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        var a = await cluster.StartAsync("a", o => o with { LoggerFactory = log });
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();
        a.PeerJoined += (_, _) =>
        {
            entered.TrySetResult();
            release.Wait();
        };
        await cluster.StartAsync("b");
        await entered.Task.WaitAsync(Timeout);
        try
        {
            await a.DisposeAsync().AsTask().WaitAsync(Timeout);
            Assert.False(release.IsSet);
            Assert.Equal(NodeState.Stopped, a.State);
            Assert.True(log.Contains(1402, "PeerJoined"), log.All);
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public async Task A_broadcast_waiting_for_room_fails_with_NodeStopped_and_the_held_broadcasts_count_as_dropped()
    {
        await using var cluster = new TestCluster();
        // Room for a few frames: the queue counts each frame's whole buffer, and publishing seals the open one.
        var a = await cluster.StartAsync("a", o => TestCluster.Patient(o) with { SendQueueLimitBytes = 16 * QueueLimit });
        var b = await cluster.StartAsync("b", TestCluster.Patient);
        await Task.WhenAll(a.WaitForPeersAsync(["b"], Timeout), b.WaitForPeersAsync(["a"], Timeout));
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Runtime.BroadcastHeldChanged += isHeld =>
        {
            if (isHeld) held.TrySetResult();
        };
        var dropEvents = new List<MessageDroppedEventArgs>();
        a.MessageDropped += (_, e) =>
        {
            lock (dropEvents) dropEvents.Add(e);
        };
        b.Faults.MuteBroadcastAcks = true;

        // The window fills, since b acknowledges nothing. A broadcast that waits for room when publishing begins to
        // wait for b is waited for no longer: it may never get room.
        Task? caught = null;
        for (var i = 0; i < 100_000 && !held.Task.IsCompleted; i++)
        {
            var sent = a.BroadcastAsync(Body);
            if (sent.IsCompleted)
            {
                await sent;
                continue;
            }
            caught = sent.AsTask();
            await Task.WhenAny(caught, held.Task).WaitAsync(Timeout);
            if (!held.Task.IsCompleted) await caught;
        }
        await held.Task.WaitAsync(Timeout);
        // Then the queue fills behind the window: nothing leaves it while publishing waits.
        var (accepted, pending) = await FillAsync(() => a.BroadcastAsync(Body));

        await a.DisposeAsync().AsTask().WaitAsync(Timeout);
        await Assert.ThrowsAsync<NodeStoppedException>(() => pending.WaitAsync(Timeout));
        if (caught is not null) Assert.True(await Record.ExceptionAsync(() => caught.WaitAsync(Timeout)) is null or NodeStoppedException);
        // What the queue took while publishing waited was never published, and a broadcast waits for room only while
        // the queue holds something.
        var neverPublished = Math.Max(accepted, 1);
        Assert.InRange(a.Statistics.MessagesDropped, neverPublished, long.MaxValue);
        lock (dropEvents) Assert.InRange(dropEvents.Where(e => e.Peer == "*").Sum(e => e.Count), neverPublished, long.MaxValue);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_send_waiting_for_room_fails_with_NodeStopped_and_its_queue_counts_as_dropped(bool leave)
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => TestCluster.Patient(o) with { SendQueueLimitBytes = QueueLimit });
        var b = await cluster.StartAsync("b", TestCluster.Patient);
        await Task.WhenAll(a.WaitForPeersAsync(["b"], Timeout), b.WaitForPeersAsync(["a"], Timeout));

        // b's loop is held: it acknowledges nothing, so a keeps every message and its queue to b fills.
        using var release = new ManualResetEventSlim();
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bLoop = b.Runtime.InvokeAsync(() =>
        {
            holding.TrySetResult();
            return release.Wait(Timeout);
        });
        try
        {
            await holding.Task.WaitAsync(Timeout);
            var (accepted, pending) = await FillAsync(() => a.SendAsync("b", Body));

            // Without LEAVE, as when the leave does not finish: the peers stay in the table to the end.
            await (leave ? a.DisposeAsync().AsTask() : a.AbandonForTestsAsync()).WaitAsync(Timeout);
            await Assert.ThrowsAsync<NodeStoppedException>(() => pending.WaitAsync(Timeout));
            Assert.InRange(a.Statistics.MessagesDropped, accepted, long.MaxValue);
        }
        finally
        {
            release.Set();
            await bLoop;
        }
    }

    /// <summary>Sends until a send has to wait for room; returns how many were accepted, and the one that waits.</summary>
    private static async Task<(long Accepted, Task Pending)> FillAsync(Func<ValueTask> send)
    {
        for (long accepted = 0; accepted < 1_000_000; accepted++)
        {
            var sent = send();
            if (!sent.IsCompleted) return (accepted, sent.AsTask());
            await sent;
        }
        throw new InvalidOperationException("the queue never filled");
    }
}
