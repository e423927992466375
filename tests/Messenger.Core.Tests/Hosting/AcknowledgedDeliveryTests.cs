using Messenger.Tests.Support;

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
}
