using Messenger.Tests.Support;
using Messenger.Transport;
using NetMQ;

namespace Messenger.Tests.Transport;

public sealed class FrameBufferPoolTests
{
    [Theory]
    [InlineData(FrameBufferPool.MinPooledSize, FrameBufferPool.MinPooledSize)]
    [InlineData(FrameBufferPool.MinPooledSize + 1, FrameBufferPool.MinPooledSize + FrameBufferPool.Granularity)]
    [InlineData(65_600, 69_632)]
    [InlineData(FrameBufferPool.MaxPooledSize, FrameBufferPool.MaxPooledSize)]
    public void A_batch_sized_buffer_is_rounded_up_to_its_size_class(int size, int expected)
    {
        var pool = new FrameBufferPool();
        Assert.Equal(expected, pool.Take(size).Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(64)]
    [InlineData(FrameBufferPool.MinPooledSize - 1)]
    [InlineData(FrameBufferPool.MaxPooledSize + 1)]
    [InlineData(1024 * 1024)]
    public void Other_sizes_are_plain_arrays_of_the_exact_size_and_are_not_kept(int size)
    {
        var pool = new FrameBufferPool();
        var buffer = pool.Take(size);
        Assert.Equal(size, buffer.Length);
        pool.Return(buffer);
        Assert.Equal(0, pool.RetainedBytes);
        Assert.NotSame(buffer, pool.Take(size));
    }

    [Fact]
    public void A_returned_buffer_is_handed_out_again_for_its_size_class_only()
    {
        var pool = new FrameBufferPool();
        var buffer = pool.Take(60_000);
        pool.Return(buffer);
        Assert.Equal(buffer.Length, pool.RetainedBytes);
        Assert.NotSame(buffer, pool.Take(20_000));
        Assert.Same(buffer, pool.Take(58_000));
        Assert.Equal(0, pool.RetainedBytes);
    }

    [Fact]
    public void A_foreign_array_of_an_odd_size_is_left_to_the_collector()
    {
        var pool = new FrameBufferPool();
        pool.Return(new byte[40_001]);
        Assert.Equal(0, pool.RetainedBytes);
    }

    [Fact]
    public void The_pool_keeps_no_more_than_its_limit()
    {
        var pool = new FrameBufferPool();
        var count = (int)(FrameBufferPool.MaxRetainedBytes / FrameBufferPool.MaxPooledSize) + 10;
        var buffers = Enumerable.Range(0, count).Select(_ => pool.Take(FrameBufferPool.MaxPooledSize)).ToList();
        foreach (var b in buffers) pool.Return(b);
        Assert.InRange(pool.RetainedBytes, FrameBufferPool.MaxRetainedBytes - FrameBufferPool.MaxPooledSize, FrameBufferPool.MaxRetainedBytes);
    }

    [Fact]
    public async Task A_started_node_has_installed_the_pool_as_NetMQs()
    {
        await using var cluster = new TestCluster();
        await cluster.StartAsync("a");
        // NetMQ's default pool returns exactly the size asked for; this pool rounds a batch-sized one up.
        Assert.Equal(40_960, BufferPool.Take(40_000).Length);
    }

    [Fact]
    public void The_AppContext_switch_keeps_NetMQs_own_pool()
    {
        // The switch is read once per process, at the first node's start: once that is done, setting it here
        // cannot change what nodes started by other tests meanwhile get.
        FrameBufferPool.EnsureInstalled();
        try
        {
            AppContext.SetSwitch(FrameBufferPool.KeepNetMQDefaultSwitch, true);
            Assert.False(FrameBufferPool.ShouldInstall());
            AppContext.SetSwitch(FrameBufferPool.KeepNetMQDefaultSwitch, false);
            Assert.True(FrameBufferPool.ShouldInstall());
        }
        finally
        {
            AppContext.SetSwitch(FrameBufferPool.KeepNetMQDefaultSwitch, false);
        }
    }

    /// <summary>Recycled buffers must never carry one frame's bytes into another: bodies that each name their own
    /// index, many full batch frames of them, one way and the other, unicast and broadcast, arrive intact.</summary>
    [Fact]
    public async Task Messages_in_recycled_frame_buffers_arrive_intact()
    {
        const int count = 6000;
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));

        static byte[] Body(int i, byte kind)
        {
            var body = new byte[1000 + i % 97];
            for (var j = 0; j < body.Length; j++) body[j] = (byte)(i * 31 + j * 7 + kind);
            BitConverter.TryWriteBytes(body, i);
            return body;
        }

        var reading = TestCluster.ReadAsync(b, 2 * count, TimeSpan.FromSeconds(60));
        for (var i = 0; i < count; i++)
        {
            await a.SendAsync("b", Body(i, 1));
            await a.BroadcastAsync(Body(i, 2));
        }
        var received = await reading;

        foreach (var kind in new[] { MessageKind.Unicast, MessageKind.Broadcast })
        {
            var bodies = received.Where(m => m.Kind == kind).Select(m => m.Body.ToArray()).ToList();
            Assert.Equal(count, bodies.Count);
            for (var i = 0; i < count; i++) Assert.Equal(Body(i, kind == MessageKind.Unicast ? (byte)1 : (byte)2), bodies[i]);
        }
    }
}
