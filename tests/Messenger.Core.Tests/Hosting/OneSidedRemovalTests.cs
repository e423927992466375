using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

/// <summary>A node that removes a peer which has not removed it (the peer was frozen past the node's patience) makes
/// a new link to it later: the streams between them go on where they stood (PeerStreams), so nothing new is taken
/// for a duplicate, nothing old is delivered twice, and the new link connects.</summary>
public sealed class OneSidedRemovalTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_link_made_anew_on_one_side_only_goes_on_where_the_streams_stood(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        // a gives up on a silent peer within 2 s; b is patient and keeps its link to a through its freeze.
        var a = await cluster.StartAsync("a", o => o with { PeerTimeout = TimeSpan.FromSeconds(1), PeerGoneAfter = TimeSpan.FromSeconds(1) });
        var b = await cluster.StartAsync("b", o => o with { PeerTimeout = TimeSpan.FromSeconds(60), PeerGoneAfter = TimeSpan.FromSeconds(120), HangTimeout = TimeSpan.FromSeconds(60) });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        for (var i = 1; i <= 5; i++)
        {
            await a.SendAsync("b", $"a{i}", topic: null, requireAck: true);
            await b.SendAsync("a", $"b{i}", topic: null, requireAck: true);
        }
        Assert.Equal(5, (await TestCluster.ReadAsync(b, 5))[^1].Sequence);
        Assert.Equal(5, (await TestCluster.ReadAsync(a, 5))[^1].Sequence);

        using (var probe = new EventProbe(a))
        {
            b.InjectHangForTests(TimeSpan.FromSeconds(5));
            await probe.WaitAsync("left", "b");
        }
        // b comes back by itself (its next frames meet no session at a, and it greets again): a's new link to it
        // connects, although b still hears a's broadcasts and probes nothing.
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);

        await a.SendAsync("b", "a6", topic: null, requireAck: true).WaitAsync(TestCluster.Timeout);
        var atB = (await TestCluster.ReadAsync(b, 1)).Single();
        Assert.Equal(("a6", 6L), (atB.GetText(), atB.Sequence));
        await b.SendAsync("a", "b6", topic: null, requireAck: true).WaitAsync(TestCluster.Timeout);
        var atA = (await TestCluster.ReadAsync(a, 1)).Single();
        Assert.Equal(("b6", 6L), (atA.GetText(), atA.Sequence));
        Assert.False(a.TryRead(out var extraA), $"nothing more at a, but got {extraA}");
        Assert.False(b.TryRead(out var extraB), $"nothing more at b, but got {extraB}");
    }
}
