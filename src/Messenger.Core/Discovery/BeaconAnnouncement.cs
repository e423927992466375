using Messenger.Protocol;

namespace Messenger.Discovery;

/// <summary>What a node's beacon says: who it is and which ports it listens on. The host is the datagram's source address.</summary>
/// <remarks>Version 1 (insecure nodes) carries no key; version 2 ends with the node's 32-byte public key, whose
/// SHA-256 must begin with the id: a forged beacon can at most lead to a handshake that fails.</remarks>
internal sealed record BeaconAnnouncement(string Cluster, NodeId Id, string Name, int Port, int PublishPort, byte[]? PublicKey = null)
{
    private static ReadOnlySpan<byte> Prefix => "MSGRB"u8;

    public byte[] Encode()
    {
        var size = Prefix.Length + 1 + Wire.Str8Size(Cluster) + Wire.NodeIdSize + Wire.Str8Size(Name) + 4 + (PublicKey?.Length ?? 0);
        var buffer = new byte[size];
        Prefix.CopyTo(buffer);
        var p = Prefix.Length;
        buffer[p++] = PublicKey is null ? Wire.Version : Wire.SecureVersion;
        p += Wire.WriteStr8(buffer.AsSpan(p), Cluster);
        Id.WriteTo(buffer.AsSpan(p));
        p += Wire.NodeIdSize;
        p += Wire.WriteStr8(buffer.AsSpan(p), Name);
        Wire.WriteU16(buffer.AsSpan(p), Port);
        Wire.WriteU16(buffer.AsSpan(p + 2), PublishPort);
        PublicKey?.CopyTo(buffer, p + 4);
        return buffer;
    }

    /// <summary>Decodes a datagram; anything that is not a whole, valid announcement is a <see cref="ProtocolException"/>.</summary>
    public static BeaconAnnouncement Decode(ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length < Prefix.Length + 1 || !datagram[..Prefix.Length].SequenceEqual(Prefix)) throw new ProtocolException("not a Messenger beacon");
        var version = datagram[Prefix.Length];
        if (version is not (Wire.Version or Wire.SecureVersion)) throw new ProtocolException($"beacon version {version} is not supported");
        var r = new FrameReader(datagram, Prefix.Length + 1);
        var cluster = r.ReadName("cluster");
        var id = r.ReadNodeId("node id");
        var name = r.ReadName("name");
        var port = r.ReadU16("port");
        var pubPort = r.ReadU16("publish port");
        var key = version == Wire.SecureVersion ? r.ReadBytes(32, "public key").ToArray() : null;
        r.ExpectEnd("beacon");
        if (port == 0 || pubPort == 0) throw new ProtocolException("port 0");
        if (key is not null && NodeId.FromPublicKey(key) != id) throw new ProtocolException("beacon id does not match its public key");
        return new BeaconAnnouncement(cluster, id, name, port, pubPort, key);
    }
}
