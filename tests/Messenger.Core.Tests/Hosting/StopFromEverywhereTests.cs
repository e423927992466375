using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

/// <summary>A node stops from wherever it is told to: from one of its own event handlers, and while a handler is stuck.</summary>
public sealed class StopFromEverywhereTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

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
}
