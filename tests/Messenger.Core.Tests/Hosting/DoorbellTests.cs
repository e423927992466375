using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

/// <summary>How senders wake the poller: a sender whose queue was idle hands it over and posts one flush to the
/// poller's task queue, however many senders ring before that flush begins; and what is posted once the node has
/// stopped fails instead of waiting for ever.</summary>
public sealed class DoorbellTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Every_send_after_an_idle_spell_goes_out(bool insecure)
    {
        await using var cluster = new TestCluster();
        // Direct sends off, and no reply wait: every message goes through the doorbell and a posted flush.
        var a = await cluster.StartAsync("a", o => o with { Insecure = insecure, ClusterKey = insecure ? null : o.ClusterKey, DirectSends = false });
        var b = await cluster.StartAsync("b", o => o with { Insecure = insecure, ClusterKey = insecure ? null : o.ClusterKey, DirectSends = false });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        a.Runtime.ReplyWait = TimeSpan.Zero;

        for (var i = 1; i <= 200; i++)
        {
            await a.SendAsync("b", $"m{i}");
            // Each message is read before the next is sent: the queue is idle again at every send, so each one rings.
            Assert.Equal($"m{i}", (await TestCluster.ReadAsync(b, 1))[0].GetText());
        }
        Assert.Equal(0, a.Statistics.MessagesSentDirect);
    }

    [Fact]
    public async Task Senders_on_many_threads_lose_no_wake_up()
    {
        const int Threads = 4;
        const int PerThread = 250;
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { Insecure = true, ClusterKey = null });
        var b = await cluster.StartAsync("b", o => o with { Insecure = true, ClusterKey = null });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);

        using var start = new Barrier(Threads);
        var senders = Enumerable.Range(0, Threads).Select(t => Task.Run(async () =>
        {
            start.SignalAndWait();
            for (var i = 0; i < PerThread; i++) await a.SendAsync("b", $"{t}:{i}");
        })).ToArray();
        await Task.WhenAll(senders).WaitAsync(TestCluster.Timeout);

        var received = await TestCluster.ReadAsync(b, Threads * PerThread);
        // One sender's messages keep their order; all of them arrive once.
        var next = new int[Threads];
        foreach (var text in received.Select(m => m.GetText()))
        {
            var parts = text.Split(':');
            var thread = int.Parse(parts[0]);
            Assert.Equal(next[thread]++, int.Parse(parts[1]));
        }
        Assert.All(next, n => Assert.Equal(PerThread, n));
    }

    [Fact]
    public async Task A_flush_that_fails_is_restarted_and_sends_go_on()
    {
        await using var cluster = new TestCluster();
        var b = await cluster.StartAsync("b");
        // No beacon on a: a datagram heard while the poller is held would queue its command ahead of the flush.
        var a = await cluster.StartAsync("a", o => o with { DirectSends = false, BeaconEnabled = false, Seeds = [b.Endpoint] });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        a.Runtime.ReplyWait = TimeSpan.Zero;
        var restarted = new TaskCompletionSource<ActorRestartedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.ActorRestarted += (_, e) => restarted.TrySetResult(e);

        // Hold the poller in a command, arm a fault of the node actor, and send: the flush the send posts is the
        // next of the node's work to run, and fails.
        using var holding = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var hold = a.Runtime.InvokeAsync(() =>
        {
            holding.Set();
            return release.Wait(TestCluster.Timeout);
        });
        Assert.True(holding.Wait(TestCluster.Timeout));
        a.Faults.Throw("node");
        await a.SendAsync("b", "through the fault");
        release.Set();
        Assert.True(await hold.WaitAsync(TestCluster.Timeout));

        Assert.Equal("node", (await restarted.Task.WaitAsync(TestCluster.Timeout)).Actor);
        Assert.Equal("through the fault", (await TestCluster.ReadAsync(b, 1))[0].GetText());
        await a.SendAsync("b", "and after it");
        Assert.Equal("and after it", (await TestCluster.ReadAsync(b, 1))[0].GetText());
    }

    [Fact]
    public async Task Work_posted_after_the_node_stopped_fails_with_NodeStoppedException()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var runtime = a.Runtime;
        await a.DisposeAsync();

        await Assert.ThrowsAsync<NodeStoppedException>(() => runtime.InvokeAsync(() => 1).WaitAsync(TestCluster.Timeout));
    }
}
