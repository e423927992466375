using Messenger.Protocol;

namespace Messenger.Discovery;

/// <summary>What a node's beacon says: who it is and which ports it listens on. The host is the datagram's source address.</summary>
internal sealed record BeaconAnnouncement(string Cluster, NodeId Id, string Name, int Port, int PublishPort)
{
    private static ReadOnlySpan<byte> Prefix => "MSGRB"u8;
    private const byte Version = 1;

    public byte[] Encode()
    {
        var size = Prefix.Length + 1 + Wire.Str8Size(Cluster) + Wire.NodeIdSize + Wire.Str8Size(Name) + 4;
        var buffer = new byte[size];
        Prefix.CopyTo(buffer);
        var p = Prefix.Length;
        buffer[p++] = Version;
        p += Wire.WriteStr8(buffer.AsSpan(p), Cluster);
        Id.WriteTo(buffer.AsSpan(p));
        p += Wire.NodeIdSize;
        p += Wire.WriteStr8(buffer.AsSpan(p), Name);
        Wire.WriteU16(buffer.AsSpan(p), Port);
        Wire.WriteU16(buffer.AsSpan(p + 2), PublishPort);
        return buffer;
    }

    /// <summary>Decodes a datagram; anything that is not a whole, valid announcement is a <see cref="ProtocolException"/>.</summary>
    public static BeaconAnnouncement Decode(ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length < Prefix.Length + 1 || !datagram[..Prefix.Length].SequenceEqual(Prefix)) throw new ProtocolException("not a Messenger beacon");
        if (datagram[Prefix.Length] != Version) throw new ProtocolException($"beacon version {datagram[Prefix.Length]} is not supported");
        var r = new FrameReader(datagram, Prefix.Length + 1);
        var cluster = r.ReadName("cluster");
        var id = r.ReadNodeId("node id");
        var name = r.ReadName("name");
        var port = r.ReadU16("port");
        var pubPort = r.ReadU16("publish port");
        r.ExpectEnd("beacon");
        if (port == 0 || pubPort == 0) throw new ProtocolException("port 0");
        return new BeaconAnnouncement(cluster, id, name, port, pubPort);
    }
}
