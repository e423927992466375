using Messenger.Protocol;
using Messenger.Tests.Support;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Hosting;

/// <summary>NetMQ resolves a host name inside Connect and throws the resolver's SocketException for one that does not
/// resolve. An endpoint given to a node (a seed, ConnectAsync) or by a peer (HELLO, handshake) whose host does not
/// resolve is an address that cannot be reached now: never a failure of the node. Only names under the reserved
/// .invalid top-level domain are used, which no DNS query can resolve.</summary>
public sealed class UnresolvableHostTests
{
    private const string BadHost = "nonexistent-host.invalid";

    // Event 1103: cannot connect to an endpoint.
    private const int CannotConnect = 1103;

    private static int Lines(CapturingLoggerFactory log, int eventId, string text) =>
        log.Lines.Count(l => l.EventId == eventId && l.Message.Contains(text, StringComparison.Ordinal));

    [Fact]
    public async Task A_node_with_unresolvable_seeds_runs_and_meets_a_real_peer()
    {
        await using var cluster = new TestCluster();
        var b = await cluster.StartAsync("b", o => o with { BeaconEnabled = false });
        var log = new CapturingLoggerFactory();
        // More unresolvable seeds than MaxRestarts: each one used to restart the node loop, and six faulted the node.
        var bad = Enumerable.Range(0, 6).Select(i => $"tcp://{BadHost}:{5555 + i}").ToList();
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false, LoggerFactory = log, Seeds = [.. bad, b.Endpoint] });

        // The seeds are taken in order: the real one, last, is reached after every bad one was tried.
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        Assert.Equal(NodeState.Running, a.State);
        Assert.Equal(0, a.Statistics.Restarts);
        Assert.Null(a.LastError);
        Assert.All(bad, seed => Assert.True(Lines(log, CannotConnect, seed) >= 1, log.All));
        // "does not resolve", or "is still being looked up" when the lookup took longer than the node waits for one.
        Assert.True(log.Contains(CannotConnect, $"the host '{BadHost}'"), log.All);

        await a.SendAsync("b", "past the bad seeds", topic: null, requireAck: true);
        Assert.Equal("past the bad seeds", Assert.Single(await TestCluster.ReadAsync(b, 1)).GetText());
    }

    [Fact]
    public async Task An_unresolvable_seed_stays_a_seed_and_is_tried_again()
    {
        await using var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        var seed = $"tcp://{BadHost}:5555";
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false, LoggerFactory = log, Seeds = [seed] });

        // A name may start to resolve later (a Kubernetes headless service's record appears once its pod is ready):
        // the node tries the seed again on its seed schedule, every two seconds, for as long as it runs.
        await log.Written.UntilAsync(() => Lines(log, CannotConnect, seed) >= 3, () => log.All, TestCluster.Timeout);
        var tries = log.Lines.Where(l => l.EventId == CannotConnect && l.Message.Contains(seed, StringComparison.Ordinal)).ToList();
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, tries[0].Level);
        Assert.All(tries.Skip(1), t => Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, t.Level));
        Assert.Equal(NodeState.Running, a.State);
        Assert.Equal(0, a.Statistics.Restarts);
        Assert.True(a.Statistics.HandshakesRefused >= 3, $"each try is counted: {a.Statistics.HandshakesRefused}");
        Assert.StartsWith($"the host '{BadHost}' ", await a.Runtime.SeedConnectFailureAsync(seed));
    }

    [Fact]
    public async Task A_plaintext_hello_giving_an_unresolvable_host_is_refused_without_a_restart()
    {
        await using var cluster = new TestCluster { Insecure = true };
        var log = new CapturingLoggerFactory();
        var a = await cluster.StartAsync("a");
        var b = await cluster.StartAsync("b", o => o with { LoggerFactory = log });
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));

        // More than MaxRestarts strangers, each from a connection of its own: each HELLO used to restart b's ROUTER
        // (dropping every member's session), and six faulted b. Now each is answered with a REFUSE.
        for (var i = 0; i < 6; i++)
        {
            using var raw = new DealerSocket();
            raw.Options.Linger = TimeSpan.Zero;
            raw.Connect(b.Endpoint);
            raw.SendFrame(ControlFrames.Hello(new HelloFrame(cluster.Name, NodeId.NewRandom(), $"raw{i}", BadHost, 1, 2, Guid.NewGuid(), Guid.NewGuid())));
            Assert.True(raw.TryReceiveFrameBytes(TestCluster.Timeout, out var answer), $"HELLO {i} was answered");
            var refuse = ControlFrames.ReadRefuse(answer!);
            Assert.Equal(RefuseCode.Busy, refuse.Code);
            Assert.Contains($"the host '{BadHost}' ", refuse.Reason);
        }

        Assert.Equal(NodeState.Running, b.State);
        Assert.Equal(0, b.Statistics.Restarts);
        Assert.True(b.Statistics.HandshakesRefused >= 6, $"refused: {b.Statistics.HandshakesRefused}");
        Assert.DoesNotContain(b.GetPeers(), p => p.Name.StartsWith("raw", StringComparison.Ordinal));
        Assert.True(log.Contains(CannotConnect, $"tcp://{BadHost}:1"), log.All);

        // The member's session with b survived: it goes on talking both ways.
        Assert.Equal(PeerState.Connected, b.GetPeer("a")!.State);
        await a.SendAsync("b", "to b", topic: null, requireAck: true);
        await b.SendAsync("a", "to a", topic: null, requireAck: true);
        Assert.Equal("to b", Assert.Single(await TestCluster.ReadAsync(b, 1)).GetText());
        Assert.Equal("to a", Assert.Single(await TestCluster.ReadAsync(a, 1)).GetText());
    }

    [Fact]
    public async Task A_member_advertising_an_unresolvable_host_is_refused_without_a_restart()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false });
        var c = await cluster.StartAsync("c", o => o with { BeaconEnabled = false, AdvertisedHost = BadHost });

        // c proves its key, but a cannot link back to the address c gives in its handshake: a refuses it and says why.
        var error = await Assert.ThrowsAsync<MessengerException>(() => c.ConnectAsync(a.Endpoint, TestCluster.Timeout));
        Assert.Equal("HandshakeRefused", error.ErrorId);
        Assert.Contains($"the host '{BadHost}' does not resolve", error.Message);
        Assert.Equal(NodeState.Running, a.State);
        Assert.Equal(0, a.Statistics.Restarts);
        Assert.Empty(a.GetPeers());
    }

    [Fact]
    public async Task ConnectAsync_to_an_unresolvable_host_times_out_saying_why()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false });
        var endpoint = $"tcp://{BadHost}:5555";

        // The lookup may outlast a try on a loaded machine ("still being looked up"); the endpoint stays a seed, and
        // a later try tells its outcome.
        var deadline = DateTime.UtcNow + TestCluster.Timeout;
        PeerWaitTimeoutException error;
        do error = await Assert.ThrowsAsync<PeerWaitTimeoutException>(() => a.ConnectAsync(endpoint, TimeSpan.FromSeconds(1)));
        while (error.Reason?.Contains("still being looked up") == true && DateTime.UtcNow < deadline);
        Assert.Equal("PeerWaitTimeout", error.ErrorId);
        Assert.Equal([endpoint], error.Missing);
        Assert.Contains($"the host '{BadHost}' does not resolve", error.Reason);
        Assert.Contains(endpoint, error.Message);
        Assert.Contains(error.Reason!, error.Message);
        Assert.Equal(NodeState.Running, a.State);
        Assert.Equal(0, a.Statistics.Restarts);
    }
}
