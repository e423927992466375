using System.Text;
using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

/// <summary>SendManyAsync and BroadcastManyAsync: a run of messages queued at once arrives complete, exactly once
/// and in order, and a bad message in a run is refused before any of it is queued.</summary>
public sealed class BulkSendTests
{
    private static OutgoingMessage Text(string text) => new(Encoding.UTF8.GetBytes(text), MessageContentType.Text);

    [Fact]
    public async Task A_run_larger_than_many_frames_arrives_in_order_with_consecutive_sequence_numbers()
    {
        await using var cluster = new TestCluster();
        var (a, b) = await TwoAsync(cluster);
        await a.SendAsync("b", "single first");

        // 20,000 x ~110 B: dozens of 64 KiB frames.
        var run = Enumerable.Range(1, 20_000).Select(i => Text($"bulk {i} {new string('x', 100)}")).ToArray();
        await a.SendManyAsync("b", run, topic: "bulk");
        await a.SendAsync("b", "single last");

        var got = await TestCluster.ReadAsync(b, run.Length + 2);
        Assert.Equal("single first", got[0].GetText());
        Assert.Equal("single last", got[^1].GetText());
        Assert.Equal(Enumerable.Range(1, run.Length + 2).Select(i => (long)i), got.Select(m => m.Sequence));
        var bulk = got.Skip(1).Take(run.Length).ToList();
        Assert.Equal(run.Select(m => Encoding.UTF8.GetString(m.Body.Span)), bulk.Select(m => m.GetText()));
        Assert.All(bulk, m => Assert.Equal("bulk", m.Topic));
        Assert.All(bulk, m => Assert.Equal(MessageContentType.Text, m.ContentType));
        Assert.Equal(run.Length + 2, a.Statistics.MessagesSent);
        Assert.False(b.TryRead(out var extra), $"nothing more, but got {extra}");
    }

    [Fact]
    public async Task Each_message_keeps_its_own_content_type_and_the_caller_may_reuse_its_buffer()
    {
        await using var cluster = new TestCluster();
        var (a, b) = await TwoAsync(cluster);
        var buffer = Encoding.UTF8.GetBytes("{\"n\":1}textbin");
        var run = new OutgoingMessage[]
        {
            new(buffer.AsMemory(0, 7), MessageContentType.Json),
            new(buffer.AsMemory(7, 4), MessageContentType.Text),
            new(buffer.AsMemory(11, 3)),
            new(ReadOnlyMemory<byte>.Empty, MessageContentType.Text),
        };
        await a.SendManyAsync("b", run);
        Array.Fill(buffer, (byte)'!'); // queued means copied

        var got = await TestCluster.ReadAsync(b, 4);
        Assert.Equal([MessageContentType.Json, MessageContentType.Text, MessageContentType.Binary, MessageContentType.Text], got.Select(m => m.ContentType));
        Assert.Equal(1, got[0].GetJson<Dictionary<string, int>>()!["n"]);
        Assert.Equal("text", got[1].GetText());
        Assert.Equal("bin"u8.ToArray(), got[2].Body.ToArray());
        Assert.Equal(0, got[3].Body.Length);
    }

    [Fact]
    public async Task A_run_with_a_message_over_the_limit_or_of_an_unknown_content_type_queues_nothing()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { MaxMessageSize = 1024 });
        var b = await cluster.StartAsync("b");
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));

        var tooLarge = await Assert.ThrowsAsync<MessageTooLargeException>(
            () => a.SendManyAsync("b", new[] { Text("fine"), new OutgoingMessage(new byte[1025]), Text("fine too") }).AsTask());
        Assert.Equal("MessageTooLarge", tooLarge.ErrorId);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => a.SendManyAsync("b", new[] { Text("fine"), new OutgoingMessage(new byte[1], (MessageContentType)7) }).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => a.BroadcastManyAsync(new[] { new OutgoingMessage(new byte[1], (MessageContentType)3) }).AsTask());
        // The single-message calls refuse an unknown content type too: the receiver would drop its whole batch.
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => a.SendAsync("b", new byte[1], (MessageContentType)9).AsTask());
        await Assert.ThrowsAsync<PeerNotFoundException>(() => a.SendManyAsync("nobody", new[] { Text("x") }).AsTask());
        await a.SendManyAsync("b", ReadOnlyMemory<OutgoingMessage>.Empty);

        await a.SendAsync("b", "after the refusals");
        var m = Assert.Single(await TestCluster.ReadAsync(b, 1));
        Assert.Equal("after the refusals", m.GetText());
        Assert.Equal(1, m.Sequence);
        Assert.Equal(1, a.Statistics.MessagesSent);
    }

    [Fact]
    public async Task A_run_larger_than_the_send_queue_waits_for_room_and_loses_nothing()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { SendQueueLimitBytes = 256 * 1024 });
        var b = await cluster.StartAsync("b");
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));

        // 4 MiB in one call: sixteen times the queue's limit.
        var body = new byte[1000];
        var run = Enumerable.Range(0, 4096).Select(i => new OutgoingMessage(body.Select(_ => (byte)i).ToArray())).ToArray();
        var reading = TestCluster.ReadAsync(b, run.Length, TimeSpan.FromSeconds(60));
        await a.SendManyAsync("b", run).AsTask().WaitAsync(TimeSpan.FromSeconds(60));
        var got = await reading;
        Assert.Equal(Enumerable.Range(1, run.Length).Select(i => (long)i), got.Select(m => m.Sequence));
        Assert.All(got, m => Assert.True(m.Body.Span.IndexOfAnyExcept((byte)(m.Sequence - 1)) < 0, $"message {m.Sequence} has the wrong body"));
    }

    [Fact]
    public async Task A_broadcast_run_reaches_every_peer_in_order()
    {
        await using var cluster = new TestCluster();
        var nodes = await cluster.StartConnectedAsync("p", "r1", "r2");
        var run = Enumerable.Range(1, 5000).Select(i => Text($"all {i}")).ToArray();
        await nodes[0].BroadcastManyAsync(run, topic: "news");
        foreach (var receiver in nodes.Skip(1))
        {
            var got = await TestCluster.ReadAsync(receiver, run.Length);
            Assert.Equal(Enumerable.Range(1, run.Length).Select(i => $"all {i}"), got.Select(m => m.GetText()));
            Assert.All(got, m => Assert.Equal(MessageKind.Broadcast, m.Kind));
            Assert.All(got, m => Assert.Equal("news", m.Topic));
        }
    }

    private static async Task<(MessengerNode A, MessengerNode B)> TwoAsync(TestCluster cluster)
    {
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        return (a, b);
    }
}
