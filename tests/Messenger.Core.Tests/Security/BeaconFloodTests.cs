using System.Net;
using System.Net.Sockets;
using Messenger.Discovery;
using Messenger.Protocol;
using Messenger.Tests.Support;
using Messenger.Transport;
using Microsoft.Extensions.Logging;

namespace Messenger.Tests.Security;

/// <summary>
/// Beacons are unauthenticated datagrams that anyone on the subnet can send as fast as they like. What waits for
/// the node's loop is bounded: the surplus is dropped, counted and logged once, and the node goes on.
/// </summary>
public sealed class BeaconFloodTests
{
    [Fact]
    public async Task Beacons_heard_while_the_loop_hangs_wait_in_a_bounded_queue()
    {
        await using var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        var a = await cluster.StartAsync("a", o => o with { LoggerFactory = log });
        var b = await cluster.StartAsync("b");
        await a.WaitForPeersAsync(["b"], TestCluster.Timeout);

        a.InjectHangForTests(TimeSpan.FromSeconds(3));
        using var udp = new UdpClient(AddressFamily.InterNetwork) { EnableBroadcast = true };
        var target = new IPEndPoint(IPAddress.Parse("127.255.255.255"), MessengerNodeOptions.Default.BeaconPort);
        var junk = new BeaconAnnouncement("another-cluster", NodeId.FromPublicKey(MessengerKeyPair.Generate().PublicKeyBytes), "x", 1, 2, null).Encode();
        for (var sent = 0; a.Runtime.BeaconsDropped == 0; sent++)
        {
            Assert.True(sent < 20_000, "20,000 beacons and none dropped");
            await udp.SendAsync(junk, target);
        }
        Assert.InRange(a.Runtime.BeaconsWaiting, 1, NodeRuntime.MaxBeaconsWaiting);
        Assert.Contains(log.Lines, l => l.EventId == 1106 && l.Level == LogLevel.Warning);

        // The hang ends, the queue drains, and the node hears beacons and carries messages again.
        await cluster.StartAsync("c");
        await a.WaitForPeersAsync(["b", "c"], TestCluster.Timeout);
        await b.SendAsync("a", "after the flood");
        Assert.Equal("after the flood", (await TestCluster.ReadAsync(a, 1))[0].GetText());
        Assert.Single(log.Lines, l => l.EventId == 1106);
    }
}
