using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

/// <summary>The poller's wait for a reply: after it wakes a waiting reader, it stays awake for what that reader sends
/// back, where replies go through it (direct sends off), and stops waiting on readers that never
/// answer.</summary>
public sealed class ReplyWaitTests
{
    [Fact]
    public async Task A_reply_handed_over_while_the_poller_waits_goes_out_in_order()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { DirectSends = false });
        var b = await cluster.StartAsync("b", o => o with { DirectSends = false });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await b.WaitForPeersAsync(["a"], TestCluster.Timeout);
        // Long enough that even a starved reader answers within it: every reply should be handed over, none rung.
        b.Runtime.ReplyWait = TimeSpan.FromSeconds(1);

        using var stop = new CancellationTokenSource();
        var echo = Task.Run(async () =>
        {
            await foreach (var m in b.ReadAllAsync(stop.Token)) await b.SendAsync(m.From, $"re:{m.GetText()}");
        });
        for (var i = 1; i <= 50; i++)
        {
            await a.SendAsync("b", $"m{i}");
            var reply = (await TestCluster.ReadAsync(a, 1))[0];
            Assert.Equal(($"re:m{i}", (long)i), (reply.GetText(), reply.Sequence));
        }
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => echo);

        var (waits, caught) = b.Runtime.ReplyWaitCounts;
        Assert.True(caught > 0, $"b waited {waits} times and caught no reply");
        Assert.Equal(0, a.Statistics.MessagesDropped + b.Statistics.MessagesDropped);
    }

    [Fact]
    public async Task A_reader_that_never_answers_soon_stops_the_waiting()
    {
        await using var cluster = new TestCluster();
        // Secure, with direct sends off: replies would go through the poller, so it waits for them.
        var a = await cluster.StartAsync("a", o => o with { DirectSends = false });
        var b = await cluster.StartAsync("b", o => o with { DirectSends = false });
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        b.Runtime.ReplyWait = TimeSpan.FromMilliseconds(2);

        // b reads each message as it comes and answers nothing; a sends the next only once b has read the last, so
        // that it finds b's reader waiting.
        const int count = 300;
        using var read = new SemaphoreSlim(0);
        var reader = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await b.ReadAsync();
                read.Release();
            }
        });
        for (var i = 0; i < count; i++)
        {
            await a.SendAsync("b", $"m{i}");
            Assert.True(await read.WaitAsync(TestCluster.Timeout), $"b did not read message {i}");
        }
        await reader;

        // Three misses, then 32 deliveries let pass; three more, then 64; then 128, 256: at most 15 waits in 300.
        var (waits, caught) = b.Runtime.ReplyWaitCounts;
        Assert.Equal(0, caught);
        Assert.InRange(waits, 3, 15);
    }
}
