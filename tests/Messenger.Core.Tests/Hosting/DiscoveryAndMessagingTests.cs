using System.Text;
using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

public sealed class DiscoveryAndMessagingTests
{
    [Fact]
    public async Task Two_nodes_find_each_other_by_beacon_and_exchange_unicast()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        await b.WaitForPeersAsync(["a"], TestCluster.Timeout);

        await a.SendAsync("b", "hello b", topic: "greeting");
        var m = Assert.Single(await TestCluster.ReadAsync(b, 1));
        Assert.Equal("a", m.From);
        Assert.Equal(a.Id, m.FromId);
        Assert.Equal("b", m.To);
        Assert.Equal(MessageKind.Unicast, m.Kind);
        Assert.Equal(MessageContentType.Text, m.ContentType);
        Assert.Equal("hello b", m.GetText());
        Assert.Equal("greeting", m.Topic);
        Assert.Equal(1, m.Sequence);
        Assert.True(m.ReceivedAt >= m.SentAt.AddSeconds(-5));
        Assert.Contains("beacon", new[] { b.GetPeer("a")!.DiscoveredBy, a.GetPeer("b")!.DiscoveredBy });
        var peer = a.GetPeer("b")!;
        Assert.Equal(PeerState.Connected, peer.State);
        Assert.Equal(b.Id, peer.Id);
        Assert.Equal(b.Endpoint, peer.Endpoint);
    }

    [Fact]
    public async Task Three_nodes_exchange_unicast_and_broadcast_exactly_once_and_in_order()
    {
        const int count = 2000;
        await using var cluster = new TestCluster();
        var nodes = await cluster.StartConnectedAsync("n1", "n2", "n3");

        foreach (var sender in nodes)
        {
            foreach (var receiver in nodes.Where(n => n != sender))
            {
                for (var i = 1; i <= count; i++) await sender.SendAsync(receiver.Name, $"{sender.Name}->{receiver.Name} {i}");
            }
            for (var i = 1; i <= count; i++) await sender.BroadcastAsync(Encoding.UTF8.GetBytes($"{sender.Name} all {i}"), MessageContentType.Text, "all");
        }

        foreach (var receiver in nodes)
        {
            // From each of the two others: count unicast + count broadcast.
            var got = await TestCluster.ReadAsync(receiver, 4 * count);
            foreach (var stream in got.GroupBy(m => (m.From, m.Kind)))
            {
                var list = stream.ToList();
                Assert.Equal(count, list.Count);
                Assert.Equal(Enumerable.Range(1, count).Select(i => (long)i), list.Select(m => m.Sequence));
                var expected = stream.Key.Kind == MessageKind.Unicast
                    ? Enumerable.Range(1, count).Select(i => $"{stream.Key.From}->{receiver.Name} {i}")
                    : Enumerable.Range(1, count).Select(i => $"{stream.Key.From} all {i}");
                Assert.Equal(expected, list.Select(m => m.GetText()));
            }
            Assert.Equal(4, got.GroupBy(m => (m.From, m.Kind)).Count());
            Assert.False(receiver.TryRead(out _), "no message arrives twice");
            Assert.Equal(0, receiver.Statistics.MessagesDropped);
        }
    }

    [Fact]
    public async Task A_broadcast_sent_right_after_waiting_reaches_every_peer()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a");
        var others = new[] { await cluster.StartAsync("b"), await cluster.StartAsync("c"), await cluster.StartAsync("d") };
        await a.WaitForPeersAsync(["b", "c", "d"], TestCluster.Timeout);
        await a.BroadcastAsync("first");
        foreach (var node in others)
        {
            var m = Assert.Single(await TestCluster.ReadAsync(node, 1));
            Assert.Equal(("first", MessageKind.Broadcast, "a", 1L), (m.GetText(), m.Kind, m.From, m.Sequence));
        }
    }

    [Fact]
    public async Task Binary_and_json_bodies_keep_their_content_type()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        var bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        await a.SendAsync("b", bytes);
        await a.SendJsonAsync("b", new Sample("x", 42));
        await a.SendAsync("b", ReadOnlyMemory<byte>.Empty);
        var got = await TestCluster.ReadAsync(b, 3);
        Assert.Equal(MessageContentType.Binary, got[0].ContentType);
        Assert.Equal(bytes, got[0].Body.ToArray());
        Assert.Equal(MessageContentType.Json, got[1].ContentType);
        Assert.Equal(new Sample("x", 42), got[1].GetJson<Sample>());
        Assert.Equal(0, got[2].Body.Length);
    }

    [Fact]
    public async Task ReadAllAsync_streams_until_cancelled()
    {
        await using var cluster = new TestCluster();
        var (a, b) = (await cluster.StartAsync("a"), await cluster.StartAsync("b"));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
        for (var i = 0; i < 10; i++) await a.SendAsync("b", $"m{i}");
        using var cts = new CancellationTokenSource(TestCluster.Timeout);
        var seen = new List<string>();
        await foreach (var m in b.ReadAllAsync(cts.Token))
        {
            seen.Add(m.GetText());
            if (seen.Count == 10) break;
        }
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"m{i}"), seen);
        using var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in b.ReadAllAsync(soon.Token)) { }
        });
    }

    private sealed record Sample(string Name, int Value);
}
