using System.Buffers.Binary;
using Messenger.Protocol;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Support;

/// <summary>Protocol 1 spoken by hand from a raw NetMQ DEALER, for tests that send an insecure node what no
/// Messenger node would.</summary>
internal static class RawPlainPeer
{
    /// <summary>A raw DEALER that says HELLO to <paramref name="node"/> as node <paramref name="id"/> of a new
    /// incarnation, named <paramref name="name"/>, and has had its WELCOME (returned).</summary>
    public static DealerSocket Greet(MessengerNode node, TestCluster cluster, NodeId id, out byte[] welcome, string name = "raw")
    {
        var raw = new DealerSocket();
        raw.Options.Linger = TimeSpan.Zero;
        raw.Connect(node.Endpoint);
        raw.SendFrame(ControlFrames.Hello(new HelloFrame(cluster.Name, id, name, "127.0.0.1", 1, 2, Guid.NewGuid(), Guid.NewGuid())));
        Assert.True(raw.TryReceiveFrameBytes(TestCluster.Timeout, out var answer), "no WELCOME");
        Assert.Equal(FrameType.Welcome, Wire.ReadHeader(answer!));
        welcome = answer!;
        return raw;
    }

    /// <summary>A DATA frame (docs/PROTOCOL.md, "Batches") acknowledging <paramref name="ack"/>, with a text record
    /// of each sequence number and body.</summary>
    public static byte[] Batch(long ack, params (long Sequence, byte[] Body)[] records)
    {
        var countAt = BatchReader.CountOffset(FrameType.Data);
        var frame = new byte[countAt + 4 + records.Sum(r => Wire.RecordFixedSize + r.Body.Length)];
        Wire.WriteHeader(frame, FrameType.Data);
        BatchReader.WriteAck(frame, ack);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(countAt), (uint)records.Length);
        var p = countAt + 4;
        foreach (var (sequence, body) in records)
        {
            frame[p] = 0;
            frame[p + 1] = (byte)MessageContentType.Text;
            BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(p + 2), sequence);
            BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(p + 10), 0);
            BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(p + 18), (uint)body.Length);
            body.CopyTo(frame, p + 22);
            p += Wire.RecordFixedSize + body.Length;
        }
        return frame;
    }
}
