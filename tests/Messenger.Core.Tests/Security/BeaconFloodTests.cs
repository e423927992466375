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
[Collection(SerialCollection.Name)] // floods the beacon port every node of the test process listens on
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

        // a's loop is held until released: every beacon heard meanwhile waits for it.
        using var release = new ManualResetEventSlim();
        var held = a.Runtime.InvokeAsync(() => release.Wait(TestCluster.Timeout));
        try
        {
            using var udp = new UdpClient(AddressFamily.InterNetwork) { EnableBroadcast = true };
            var target = new IPEndPoint(IPAddress.Parse("127.255.255.255"), MessengerNodeOptions.Default.BeaconPort);
            var junk = new BeaconAnnouncement("another-cluster", NodeId.FromPublicKey(MessengerKeyPair.Generate().PublicKeyBytes), "x", 1, 2, null).Encode();
            for (var sent = 0; a.Runtime.BeaconsDropped == 0; sent++)
            {
                Assert.True(sent < 20_000, "20,000 beacons and none dropped");
                await udp.SendAsync(junk, target);
            }
            Assert.Equal(NodeRuntime.MaxBeaconsWaiting, a.Runtime.BeaconsWaiting);
            Assert.Contains(log.Lines, l => l.EventId == 1106 && l.Level == LogLevel.Warning);
        }
        finally
        {
            release.Set();
        }
        Assert.True(await held, "a's loop was held until released");

        // The queue drains, and the node hears beacons and carries messages again.
        await cluster.StartAsync("c");
        await a.WaitForPeersAsync(["b", "c"], TestCluster.Timeout);
        await b.SendAsync("a", "after the flood");
        Assert.Equal("after the flood", (await TestCluster.ReadAsync(a, 1))[0].GetText());
        Assert.Single(log.Lines, l => l.EventId == 1106);
    }
}
