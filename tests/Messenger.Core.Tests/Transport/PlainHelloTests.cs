using Messenger.Protocol;
using Messenger.Tests.Support;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Transport;

/// <summary>Protocol 1's HELLO as a node sends it (docs/PROTOCOL.md, "Frame header"): a raw ROUTER stands in for a
/// seed that does not answer, so the node greets it again and again.</summary>
public sealed class PlainHelloTests
{
    [Fact]
    public async Task A_HELLO_sent_again_on_a_connection_names_the_same_session_and_incarnation()
    {
        await using var cluster = new TestCluster { Insecure = true };
        using var seed = new RouterSocket();
        seed.Options.Linger = TimeSpan.Zero;
        var port = seed.BindRandomPort("tcp://127.0.0.1");
        await cluster.StartAsync("n", o => o with { BeaconEnabled = false, Seeds = [$"tcp://127.0.0.1:{port}"] });

        var first = ReceiveHello(seed);
        var again = ReceiveHello(seed);
        Assert.Equal((first.Cluster, first.Name, first.Incarnation, first.Session), (again.Cluster, again.Name, again.Incarnation, again.Session));
        Assert.NotEqual(first.Incarnation, first.Session);
        Assert.Null(first.DataFor);
    }

    private static HelloFrame ReceiveHello(RouterSocket router)
    {
        var message = new NetMQMessage();
        Assert.True(router.TryReceiveMultipartMessage(TestCluster.Timeout, ref message), "no HELLO came");
        Assert.Equal(2, message.FrameCount);
        return ControlFrames.ReadHello(message[1].ToByteArray());
    }
}
