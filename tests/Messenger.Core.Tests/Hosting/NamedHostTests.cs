using System.Net;
using Messenger.Tests.Support;
using Messenger.Transport;

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

    [Fact]
    public async Task A_link_restarted_while_its_host_name_is_being_looked_up_connects_again_once_it_resolves()
    {
        await using var cluster = new TestCluster { Insecure = true };
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false });
        var b = await cluster.StartAsync("b", o => o with { BeaconEnabled = false, AdvertisedHost = "localhost" });
        await b.ConnectAsync(a.Endpoint, TestCluster.Timeout);
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);

        // From now on a's resolver answers only when the test says so: slower than the poller waits for.
        var answer = new TaskCompletionSource<IPAddress[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Runtime.Resolver = new HostResolver(_ =>
        {
            asked.TrySetResult();
            return answer.Task;
        });
        var restarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.ActorRestarted += (_, e) => { if (e.Actor == "link:b") restarted.TrySetResult(); };
        a.Faults.Throw("link:b");
        await a.SendAsync("b", "sets off the fault");
        await restarted.Task.WaitAsync(TestCluster.Timeout);
        await asked.Task.WaitAsync(TestCluster.Timeout);

        // The link has no sockets while the name is looked up; once it resolves, the tick connects it again.
        answer.SetResult([IPAddress.Loopback]);
        await a.SendAsync("b", "after the restart", topic: null, requireAck: true);
        Assert.Contains("after the restart", (await TestCluster.ReadAsync(b, 2)).Select(m => m.GetText()));
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);
    }
}
