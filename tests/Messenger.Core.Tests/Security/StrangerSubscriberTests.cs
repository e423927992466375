using System.Net;
using System.Net.Sockets;
using System.Text;
using Messenger.Tests.Support;

namespace Messenger.Tests.Security;

/// <summary>
/// Anyone may connect to a node's PUB socket and subscribe: all it reads is ciphertext. One that then reads nothing
/// must not make the broadcaster keep what it publishes: ZeroMQ queues a subscriber's frames up to the socket's
/// high-water mark, 1,000 frames, not 10,000.
/// </summary>
[Collection(SerialCollection.Name)] // measures the process's managed heap
public sealed class StrangerSubscriberTests
{
    [Fact]
    public async Task A_stranger_subscribed_to_the_PUB_that_reads_nothing_holds_little_of_the_broadcasters_memory()
    {
        const int Count = 2500; // 60 KiB each, a frame each: about 150 MiB in all, where the PUB keeps 1,000 frames
        var body = new byte[60 * 1024];
        await using var cluster = new TestCluster();
        // The broadcast queue recycles its frames up to its limit (64 MiB by default) and lets them go only at a
        // gossip tick that finds it idle: with the default, the heap would count up to 64 MiB of the broadcaster's own
        // free frames, and whether the warm-up's were let go before the first measure. 4 MiB: 65 frames at most.
        var a = await cluster.StartAsync("a", o => o with { SendQueueLimitBytes = 4 * 1024 * 1024 });
        var b = await cluster.StartAsync("b");
        await Task.WhenAll(a.WaitForPeersAsync(["b"], TestCluster.Timeout), b.WaitForPeersAsync(["a"], TestCluster.Timeout));
        // Once without the stranger: the buffer pools of both nodes fill to what this traffic needs.
        await BroadcastAndReadAsync(500);
        var before = GC.GetTotalMemory(forceFullCollection: true);
        using var stranger = Subscribe(a.PublishPort);
        await BroadcastAndReadAsync(Count);

        var grewMiB = (GC.GetTotalMemory(forceFullCollection: true) - before) / (1024 * 1024);
        Assert.True(grewMiB < 100, $"the broadcaster holds {grewMiB} MiB for a subscriber that reads nothing");

        async Task BroadcastAndReadAsync(int count)
        {
            var reader = Task.Run(async () =>
            {
                using var cancel = new CancellationTokenSource(TestCluster.Timeout * 3);
                for (var i = 0; i < count; i++) await b.ReadAsync(cancel.Token);
            });
            for (var i = 0; i < count; i++) await a.BroadcastAsync(body);
            await reader;
        }
    }

    /// <summary>A raw TCP connection that speaks ZMTP 3.0 as a SUB, subscribes to every topic, and reads no more.</summary>
    private static Socket Subscribe(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, ReceiveTimeout = 20_000 };
        socket.Connect(IPAddress.Loopback, port);
        var greeting = new byte[64];
        greeting[0] = 0xFF;
        greeting[9] = 0x7F;
        greeting[10] = 3; // ZMTP 3.0
        Encoding.ASCII.GetBytes("NULL").CopyTo(greeting, 12);
        socket.Send(greeting);
        List<byte> ready = [0x04, 0, 5, .. "READY"u8, 11, .. "Socket-Type"u8, 0, 0, 0, 3, .. "SUB"u8];
        ready[1] = (byte)(ready.Count - 2);
        socket.Send(ready.ToArray());
        // The PUB's greeting (64 bytes) and its READY command (flags, size, body): the session is up.
        var got = new byte[512];
        var n = 0;
        while (n < 66 || n < 66 + got[65]) n += socket.Receive(got, n, got.Length - n, SocketFlags.None);
        socket.Send([0x00, 0x01, 0x01]); // a message of one byte, 1: subscribe to every topic
        return socket;
    }
}
