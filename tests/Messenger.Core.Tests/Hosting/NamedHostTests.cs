using Messenger.Tests.Support;

namespace Messenger.Tests.Hosting;

/// <summary>Peers and seeds given by host name, as in a Kubernetes StatefulSet (pod-0.service): the node looks the
/// names up off its poller thread and connects to the address found, while the peer table keeps the name.</summary>
public sealed class NamedHostTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Nodes_that_advertise_a_host_name_and_a_seed_given_by_name_meet_and_talk(bool insecure)
    {
        await using var cluster = new TestCluster { Insecure = insecure };
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false, AdvertisedHost = "localhost" });
        var b = await cluster.StartAsync("b", o => o with { BeaconEnabled = false, AdvertisedHost = "localhost", Seeds = [$"tcp://localhost:{a.Port}"] });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        Assert.Equal($"tcp://localhost:{a.Port}", b.GetPeer("a")!.Endpoint);
        Assert.Equal($"tcp://localhost:{b.Port}", a.GetPeer("b")!.Endpoint);

        // Unicast both ways (acknowledged, so over the data connections too, opened to the looked-up address), and a
        // broadcast.
        for (var i = 0; i < 3; i++)
        {
            await a.SendAsync("b", $"to b {i}", topic: null, requireAck: true);
            await b.SendAsync("a", $"to a {i}", topic: null, requireAck: true);
        }
        await a.BroadcastAsync("to all");
        Assert.Equal(["to b 0", "to b 1", "to b 2", "to all"], (await TestCluster.ReadAsync(b, 4)).Select(m => m.GetText()));
        Assert.Equal(["to a 0", "to a 1", "to a 2"], (await TestCluster.ReadAsync(a, 3)).Select(m => m.GetText()));
        Assert.Equal((0L, 0L), (a.Statistics.Restarts, b.Statistics.Restarts));
    }
}
