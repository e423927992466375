using System.Collections.Concurrent;
using Messenger.Transport;

namespace Messenger.Core.Tests.Transport;

public class ReceiveQueueTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static MessengerMessage Message(long sequence) => new()
    {
        From = "a",
        FromId = "id",
        To = "b",
        Kind = MessageKind.Unicast,
        ContentType = MessageContentType.Binary,
        Body = ReadOnlyMemory<byte>.Empty,
        Sequence = sequence,
        SentAt = DateTimeOffset.UnixEpoch,
        ReceivedAt = DateTimeOffset.UnixEpoch,
    };

    private static List<MessengerMessage> Batch(long first, int count) =>
        Enumerable.Range(0, count).Select(i => Message(first + i)).ToList();

    private static List<long> Drain(ReceiveQueue queue)
    {
        var seen = new List<long>();
        while (queue.TryRead(out var m)) seen.Add(m.Sequence);
        return seen;
    }

    [Fact]
    public void Messages_come_out_in_order_across_batches()
    {
        var queue = new ReceiveQueue(100, ReceiveFullMode.DropNewest, _ => Assert.Fail("nothing should drop"));
        Assert.Equal(3, queue.Write(Batch(1, 3)));
        Assert.Equal(4, queue.Write(Batch(4, 4)));
        Assert.Equal(7, queue.Count);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7], Drain(queue));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void DropNewest_keeps_the_first_arrivals_and_reports_the_rest()
    {
        var dropped = new List<long>();
        var queue = new ReceiveQueue(5, ReceiveFullMode.DropNewest, m => dropped.Add(m.Sequence));
        Assert.Equal(3, queue.Write(Batch(1, 3)));
        Assert.Equal(2, queue.Write(Batch(4, 4)));
        Assert.Equal([6, 7], dropped);
        Assert.Equal(0, queue.Write(Batch(8, 1)));
        Assert.Equal([1, 2, 3, 4, 5], Drain(queue));
    }

    [Fact]
    public void DropOldest_keeps_the_latest_arrivals_and_reports_the_oldest()
    {
        var dropped = new List<long>();
        var queue = new ReceiveQueue(5, ReceiveFullMode.DropOldest, m => dropped.Add(m.Sequence));
        queue.Write(Batch(1, 3));
        Assert.True(queue.TryRead(out var first));
        Assert.Equal(1, first.Sequence);
        queue.Write(Batch(4, 5)); // 2..8 is 7 messages: 2 and 3 go
        Assert.Equal([2, 3], dropped);
        queue.Write(Batch(9, 7)); // a batch over the capacity keeps only its own last 5
        Assert.Equal([2, 3, 4, 5, 6, 7, 8, 9, 10], dropped);
        Assert.Equal([11, 12, 13, 14, 15], Drain(queue));
    }

    [Fact]
    public void TryReadMany_takes_across_batches_up_to_the_limit()
    {
        var queue = new ReceiveQueue(100, ReceiveFullMode.DropNewest, _ => { });
        queue.Write(Batch(1, 3));
        queue.Write(Batch(4, 3));
        var into = new List<MessengerMessage>();
        Assert.Equal(5, queue.TryReadMany(into, 5));
        Assert.Equal([1L, 2, 3, 4, 5], into.Select(m => m.Sequence));
        Assert.Equal(1, queue.Count);
        Assert.Equal(1, queue.TryReadMany(into, 100));
        Assert.Equal(0, queue.TryReadMany(into, 100));
    }

    [Fact]
    public async Task A_waiting_reader_wakes_on_a_write_and_sees_the_end_after_complete()
    {
        var queue = new ReceiveQueue(100, ReceiveFullMode.DropNewest, _ => { });
        var wait = queue.WaitToReadAsync(CancellationToken.None).AsTask();
        Assert.False(wait.IsCompleted);
        queue.Write(Batch(1, 2));
        Assert.True(await wait.WaitAsync(Patience));
        Assert.Equal([1, 2], Drain(queue));

        var end = queue.WaitToReadAsync(CancellationToken.None).AsTask();
        queue.Complete();
        Assert.False(await end.WaitAsync(Patience));
        Assert.Equal(0, queue.Write(Batch(3, 1)));
    }

    [Fact]
    public async Task Complete_lets_readers_finish_what_is_queued_first()
    {
        var queue = new ReceiveQueue(100, ReceiveFullMode.DropNewest, _ => { });
        queue.Write(Batch(1, 2));
        queue.Complete();
        Assert.True(await queue.WaitToReadAsync(CancellationToken.None));
        Assert.Equal([1, 2], Drain(queue));
        Assert.False(await queue.WaitToReadAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_cancelled_wait_throws_and_leaves_the_queue_usable()
    {
        var queue = new ReceiveQueue(100, ReceiveFullMode.DropNewest, _ => { });
        using var cts = new CancellationTokenSource();
        var wait = queue.WaitToReadAsync(cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        queue.Write(Batch(1, 1));
        Assert.True(await queue.WaitToReadAsync(CancellationToken.None).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Concurrent_readers_get_every_message_exactly_once()
    {
        const int batches = 2000, perBatch = 50;
        var queue = new ReceiveQueue(batches * perBatch, ReceiveFullMode.DropNewest, _ => Assert.Fail("nothing should drop"));
        var seen = new int[batches * perBatch + 1];
        async Task ReadAsync()
        {
            while (await queue.WaitToReadAsync(CancellationToken.None))
            {
                while (queue.TryRead(out var m)) Interlocked.Increment(ref seen[m.Sequence]);
            }
        }
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(ReadAsync)).ToArray();
        var writer = Task.Run(() =>
        {
            for (var b = 0; b < batches; b++) queue.Write(Batch(1 + (long)b * perBatch, perBatch));
            queue.Complete();
        });
        await Task.WhenAll([writer, .. readers]).WaitAsync(Patience);
        Assert.All(seen.Skip(1), n => Assert.Equal(1, n));
    }

    [Fact]
    public async Task DropOldest_never_reports_as_dropped_a_message_a_reader_took()
    {
        // A reader drains while the writer makes room: every message is either delivered or dropped, never both.
        const int capacity = 64, perBatch = 16, batches = 200_000;
        var dropped = new ConcurrentDictionary<long, byte>();
        var delivered = new ConcurrentDictionary<long, byte>();
        var queue = new ReceiveQueue(capacity, ReceiveFullMode.DropOldest, m => dropped.TryAdd(m.Sequence, 0));
        var done = 0;
        var reader = Task.Run(() =>
        {
            var into = new List<MessengerMessage>();
            while (Volatile.Read(ref done) == 0 || queue.Count > 0)
            {
                into.Clear();
                queue.TryReadMany(into, int.MaxValue);
                foreach (var m in into) Assert.True(delivered.TryAdd(m.Sequence, 0), $"#{m.Sequence} read twice");
            }
        });
        var writer = Task.Run(() =>
        {
            for (var b = 0; b < batches; b++) queue.Write(Batch(1 + (long)b * perBatch, perBatch));
            Volatile.Write(ref done, 1);
        });
        await Task.WhenAll(writer, reader).WaitAsync(Patience * 4);
        var both = delivered.Keys.Intersect(dropped.Keys).Count();
        Assert.True(both == 0, $"{both} messages both delivered and reported dropped");
        Assert.Equal((long)batches * perBatch, delivered.Count + dropped.Count);
    }
}
