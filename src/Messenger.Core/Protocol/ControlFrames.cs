using System.Buffers.Binary;
using Messenger.Security;
using Messenger.Security.Noise;

namespace Messenger.Protocol;

/// <summary>HELLO (protocol 1): the first frame on a new unicast connection. <see cref="Incarnation"/> is drawn once
/// per node start (a new one is a restarted node), <see cref="Session"/> once per connection (it names the session
/// to the node's data connections), and <see cref="DataFor"/>, on a data connection only, is the <see cref="Session"/>
/// of the link it belongs to.</summary>
internal sealed record HelloFrame(string Cluster, NodeId Id, string Name, string Host, int Port, int PublishPort, Guid Incarnation, Guid Session, Guid? DataFor = null);

/// <summary>WELCOME: the answer to an accepted HELLO. <see cref="MaxMessageSize"/> is the largest body the welcoming
/// node accepts, so that its peers refuse a larger one when it is sent instead of it being dropped on arrival.</summary>
internal sealed record WelcomeFrame(NodeId Id, string Name, int Port, int PublishPort, int MaxMessageSize, byte[]? BroadcastKey = null, NoiseCipher BroadcastCipher = NoiseCipher.ChaChaPoly, int DataPort = 0);

/// <summary>The payloads of handshake messages 2 (responder: name and ports) and 3 (initiator: also its host and
/// broadcast key). Both travel encrypted inside the Noise messages.</summary>
/// <summary>A handshake payload. <see cref="DataFor"/>, in message 3 only, marks a data connection: the handshake
/// hash of the initiator's link session that the connection belongs to.</summary>
internal sealed record HandshakePayload(string Name, string Host, int Port, int PublishPort, byte[]? BroadcastKey, byte[]? DataFor = null, NoiseCipher Cipher = NoiseCipher.ChaChaPoly);

/// <summary>REFUSE: the answer to a refused HELLO.</summary>
internal sealed record RefuseFrame(RefuseCode Code, string Reason);

/// <summary>One row of a PEERS frame.</summary>
internal sealed record PeerRecord(NodeId Id, string Name, string Host, int Port, int PublishPort);

/// <summary>PUB_PROBE: published to prove a subscriber's connection is up. <see cref="LastPublished"/>: the sequence
/// of the last broadcast its sender had published (null from a peer of the first revision, which did not say).</summary>
internal sealed record PubProbeFrame(NodeId Sender, NodeId Target, ulong Token, long? LastPublished = null);

internal sealed record BroadcastTailFrame(NodeId Sender, long Last);

/// <summary>Encodes and decodes the small control frames. Data batches are in <see cref="Transport.OutboundQueue"/>
/// and <see cref="BatchReader"/>.</summary>
internal static class ControlFrames
{
    public static byte[] Hello(HelloFrame h)
    {
        var size = Wire.HeaderSize + Wire.Str8Size(h.Cluster) + Wire.NodeIdSize + Wire.Str8Size(h.Name) + Wire.Str8Size(h.Host) + 4
            + 2 * TokenSize + (h.DataFor is null ? 0 : 1 + TokenSize);
        var frame = new byte[size];
        Wire.WriteHeader(frame, FrameType.Hello);
        var p = Wire.HeaderSize;
        p += Wire.WriteStr8(frame.AsSpan(p), h.Cluster);
        h.Id.WriteTo(frame.AsSpan(p));
        p += Wire.NodeIdSize;
        p += Wire.WriteStr8(frame.AsSpan(p), h.Name);
        p += Wire.WriteStr8(frame.AsSpan(p), h.Host);
        Wire.WriteU16(frame.AsSpan(p), h.Port);
        Wire.WriteU16(frame.AsSpan(p + 2), h.PublishPort);
        p += 4;
        h.Incarnation.TryWriteBytes(frame.AsSpan(p));
        h.Session.TryWriteBytes(frame.AsSpan(p + TokenSize));
        p += 2 * TokenSize;
        if (h.DataFor is not { } link) return frame;
        frame[p] = LinkTag;
        link.TryWriteBytes(frame.AsSpan(p + 1));
        return frame;
    }

    /// <summary>The size of HELLO's incarnation, session and link tokens.</summary>
    private const int TokenSize = 16;

    /// <summary>The tag of HELLO's one optional field, <c>link</c> (the tag it has in handshake payloads too).</summary>
    private const byte LinkTag = 1;

    public static HelloFrame ReadHello(ReadOnlySpan<byte> frame)
    {
        var r = new FrameReader(frame);
        var cluster = r.ReadName("cluster");
        var id = r.ReadNodeId("node id");
        var name = r.ReadName("name");
        var host = r.ReadStr8("host");
        var port = r.ReadU16("port");
        var pubPort = r.ReadU16("publish port");
        var incarnation = new Guid(r.ReadBytes(TokenSize, "incarnation"));
        var session = new Guid(r.ReadBytes(TokenSize, "session"));
        Guid? dataFor = null;
        if (r.Remaining > 0)
        {
            if (r.ReadByte("tag") != LinkTag) throw new ProtocolException("HELLO with an unknown tagged field");
            dataFor = new Guid(r.ReadBytes(TokenSize, "link"));
        }
        r.ExpectEnd("HELLO");
        ValidateAddress(host, port, pubPort);
        return new HelloFrame(cluster, id, name, host, port, pubPort, incarnation, session, dataFor);
    }

    public static byte[] Welcome(WelcomeFrame w)
    {
        var frame = new byte[Wire.HeaderSize + Wire.NodeIdSize + Wire.Str8Size(w.Name) + 8 + (w.BroadcastKey is null ? 0 : w.BroadcastKey.Length + 1) + (w.DataPort == 0 ? 0 : 2)];
        Wire.WriteHeader(frame, FrameType.Welcome);
        w.Id.WriteTo(frame.AsSpan(Wire.HeaderSize));
        var p = Wire.HeaderSize + Wire.NodeIdSize;
        p += Wire.WriteStr8(frame.AsSpan(p), w.Name);
        Wire.WriteU16(frame.AsSpan(p), w.Port);
        Wire.WriteU16(frame.AsSpan(p + 2), w.PublishPort);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(p + 4), (uint)w.MaxMessageSize);
        p += 8;
        if (w.BroadcastKey is not null)
        {
            w.BroadcastKey.CopyTo(frame, p);
            p += w.BroadcastKey.Length;
            frame[p++] = DataCipher.ToWire(w.BroadcastCipher);
        }
        if (w.DataPort != 0) Wire.WriteU16(frame.AsSpan(p), w.DataPort);
        return frame;
    }

    /// <summary>The largest <see cref="MessengerNodeOptions.MaxMessageSize"/> a node may have.</summary>
    public const int MaxMessageSizeLimit = 256 * 1024 * 1024;

    /// <summary>Reads a WELCOME: in protocol 2 (<paramref name="secure"/>) the broadcast key and cipher follow the
    /// fixed fields; on a data connection, in either protocol, the data port comes last.</summary>
    public static WelcomeFrame ReadWelcome(ReadOnlySpan<byte> frame, bool secure)
    {
        var r = new FrameReader(frame);
        var id = r.ReadNodeId("node id");
        var name = r.ReadName("name");
        var port = r.ReadU16("port");
        var pubPort = r.ReadU16("publish port");
        var maxMessage = r.ReadU32("max message size");
        byte[]? key = null;
        var cipher = NoiseCipher.ChaChaPoly;
        var dataPort = 0;
        if (secure)
        {
            key = r.ReadBytes(32, "broadcast key").ToArray();
            cipher = DataCipher.FromWire(r.ReadByte("broadcast cipher"));
        }
        if (r.Remaining > 0 && (dataPort = r.ReadU16("data port")) == 0) throw new ProtocolException("data port 0");
        r.ExpectEnd("WELCOME");
        if (port == 0 || pubPort == 0) throw new ProtocolException("port 0");
        if (maxMessage is < 1 or > MaxMessageSizeLimit) throw new ProtocolException($"max message size {maxMessage} outside 1 byte to 256 MiB");
        return new WelcomeFrame(id, name, port, pubPort, (int)maxMessage, key, cipher, dataPort);
    }

    public static byte[] Refuse(RefuseFrame f, byte version = Wire.Version)
    {
        var reason = f.Reason.Length > 200 ? f.Reason[..200] : f.Reason;
        var frame = new byte[Wire.HeaderSize + 1 + Wire.Str8Size(reason)];
        Wire.WriteHeader(frame, FrameType.Refuse, version);
        frame[Wire.HeaderSize] = (byte)f.Code;
        Wire.WriteStr8(frame.AsSpan(Wire.HeaderSize + 1), reason);
        return frame;
    }

    public static RefuseFrame ReadRefuse(ReadOnlySpan<byte> frame)
    {
        if (!Wire.IsRefuse(frame)) throw new ProtocolException("not a REFUSE frame");
        var r = new FrameReader(frame);
        var code = (RefuseCode)r.ReadByte("code");
        var reason = r.ReadStr8("reason");
        r.ExpectEnd("REFUSE");
        return new RefuseFrame(code, reason);
    }

    /// <summary>PING, PONG: a timestamp in microseconds of the pinging node's clock.</summary>
    public static byte[] Timestamped(FrameType type, long micros)
    {
        var frame = new byte[Wire.HeaderSize + 8];
        Wire.WriteHeader(frame, type);
        BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(Wire.HeaderSize), micros);
        return frame;
    }

    public static long ReadTimestamped(ReadOnlySpan<byte> frame)
    {
        var r = new FrameReader(frame);
        var value = r.ReadI64("timestamp");
        r.ExpectEnd("PING/PONG");
        return value;
    }

    /// <summary>Frames with no body: LEAVE and LEAVE_ACK on unicast, SUB_READY, RESET.</summary>
    public static byte[] Empty(FrameType type, byte version = Wire.Version)
    {
        var frame = new byte[Wire.HeaderSize];
        Wire.WriteHeader(frame, type, version);
        return frame;
    }

    /// <summary>Protocol 2 HELLO: the cluster name in the clear (so a wrong cluster is refused at once), then the
    /// first Noise message.</summary>
    public static byte[] SecureHello(string cluster, ReadOnlySpan<byte> noiseMessage)
    {
        var frame = new byte[Wire.HeaderSize + Wire.Str8Size(cluster) + noiseMessage.Length];
        Wire.WriteHeader(frame, FrameType.Hello, Wire.SecureVersion);
        var p = Wire.HeaderSize + Wire.WriteStr8(frame.AsSpan(Wire.HeaderSize), cluster);
        noiseMessage.CopyTo(frame.AsSpan(p));
        return frame;
    }

    /// <summary>The largest Noise message a protocol 2 HELLO may carry (message 1 is 48 bytes).</summary>
    public const int MaxHelloNoiseBytes = 1024;

    /// <summary>Checks the structure of a protocol 2 HELLO without throwing or allocating: a valid cluster name,
    /// then a Noise message of 1 to <see cref="MaxHelloNoiseBytes"/> bytes. Both are returned as slices of the frame
    /// (the cluster as UTF-8 bytes, to compare with ours without making a string).</summary>
    public static bool TryReadSecureHello(ReadOnlySpan<byte> frame, out ReadOnlySpan<byte> cluster, out ReadOnlySpan<byte> noiseMessage)
    {
        cluster = default;
        noiseMessage = default;
        if (frame.Length <= Wire.HeaderSize) return false;
        var length = frame[Wire.HeaderSize];
        var start = Wire.HeaderSize + 1 + length;
        if (frame.Length - start is <= 0 or > MaxHelloNoiseBytes) return false;
        cluster = frame.Slice(Wire.HeaderSize + 1, length);
        noiseMessage = frame[start..];
        return Wire.IsValidName(cluster);
    }

    /// <summary>HANDSHAKE: one Noise message (2 or 3) of the protocol 2 handshake.</summary>
    public static byte[] Handshake(ReadOnlySpan<byte> noiseMessage)
    {
        var frame = new byte[Wire.HeaderSize + noiseMessage.Length];
        Wire.WriteHeader(frame, FrameType.Handshake, Wire.SecureVersion);
        noiseMessage.CopyTo(frame.AsSpan(Wire.HeaderSize));
        return frame;
    }

    public static byte[] ReadHandshake(ReadOnlySpan<byte> frame)
    {
        if (frame.Length <= Wire.HeaderSize || frame.Length > 2048) throw new ProtocolException("HANDSHAKE of a wrong size");
        return frame[Wire.HeaderSize..].ToArray();
    }

    /// <summary>Tag of a payload's field naming the link session a data connection belongs to (message 3 only).</summary>
    public const byte PurposeData = 1;

    /// <summary>Tag of a payload's field with the sender's preferred data cipher (see <see cref="DataCipher"/>).</summary>
    public const byte FieldCipher = 2;

    public static byte[] Payload(HandshakePayload p)
    {
        var dataLength = p.DataFor is null ? 0 : 1 + p.DataFor.Length;
        var frame = new byte[Wire.Str8Size(p.Name) + Wire.Str8Size(p.Host) + 4 + (p.BroadcastKey?.Length ?? 0) + dataLength + 2];
        var pos = Wire.WriteStr8(frame, p.Name);
        pos += Wire.WriteStr8(frame.AsSpan(pos), p.Host);
        Wire.WriteU16(frame.AsSpan(pos), p.Port);
        Wire.WriteU16(frame.AsSpan(pos + 2), p.PublishPort);
        pos += 4;
        p.BroadcastKey?.CopyTo(frame, pos);
        pos += p.BroadcastKey?.Length ?? 0;
        if (p.DataFor is not null)
        {
            frame[pos] = PurposeData;
            p.DataFor.CopyTo(frame, pos + 1);
            pos += dataLength;
        }
        frame[pos] = FieldCipher;
        frame[pos + 1] = DataCipher.ToWire(p.Cipher);
        return frame;
    }

    public static HandshakePayload ReadPayload(ReadOnlySpan<byte> payload, bool withKey)
    {
        var r = new FrameReader(payload, 0);
        var name = r.ReadName("name");
        var host = r.ReadStr8("host");
        var port = r.ReadU16("port");
        var pubPort = r.ReadU16("publish port");
        var key = withKey ? r.ReadBytes(32, "broadcast key").ToArray() : null;
        byte[]? dataFor = null;
        NoiseCipher? cipher = null;
        // Tagged fields, each at most once: the data connection's link session (message 3), the preferred cipher.
        while (r.Remaining > 0)
        {
            switch (r.ReadByte("field tag"))
            {
                case PurposeData when withKey && dataFor is null && cipher is null:
                    dataFor = r.ReadBytes(32, "link session hash").ToArray();
                    break;
                case FieldCipher when cipher is null:
                    cipher = DataCipher.FromWire(r.ReadByte("cipher"));
                    break;
                default:
                    throw new ProtocolException("unknown, repeated or misplaced field in the handshake payload");
            }
        }
        ValidateAddress(host, port, pubPort);
        return new HandshakePayload(name, host, port, pubPort, key, dataFor, cipher ?? throw new ProtocolException("handshake payload without its cipher field"));
    }

    public static void ReadEmpty(ReadOnlySpan<byte> frame)
    {
        if (frame.Length != Wire.HeaderSize) throw new ProtocolException($"{frame.Length - Wire.HeaderSize} unexpected bytes after an empty frame");
    }

    /// <summary>LEAVE: the sender stops. Its broadcasts up to <paramref name="lastBroadcast"/> were all published, for
    /// the receiver to count as missed what of them it never got (0: no claim). A LEAVE without the field, as the
    /// first revision of the protocol sent it, is read as 0.</summary>
    public static byte[] Leave(long lastBroadcast)
    {
        var frame = new byte[Wire.HeaderSize + 8];
        Wire.WriteHeader(frame, FrameType.Leave);
        BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(Wire.HeaderSize), lastBroadcast);
        return frame;
    }

    public static long ReadLeave(ReadOnlySpan<byte> frame)
    {
        if (frame.Length == Wire.HeaderSize) return 0;
        var r = new FrameReader(frame);
        var last = r.ReadI64("last broadcast");
        r.ExpectEnd("LEAVE");
        return last >= 0 ? last : throw new ProtocolException("LEAVE of a broadcast sequence below 0");
    }

    /// <summary>ACK: the receiver of DATA on this connection has every unicast message up to this sequence.</summary>
    public static byte[] Ack(long sequence) => Timestamped(FrameType.Ack, sequence);

    public static long ReadAck(ReadOnlySpan<byte> frame)
    {
        var value = ReadTimestamped(frame);
        return value > 0 ? value : throw new ProtocolException("ACK of a sequence below 1");
    }

    /// <summary>BROADCAST_ACK: the sender of this frame has every broadcast, up to this sequence, of the node that
    /// receives it.</summary>
    public static byte[] BroadcastAck(long sequence) => Timestamped(FrameType.BroadcastAck, sequence);

    public static long ReadBroadcastAck(ReadOnlySpan<byte> frame)
    {
        var value = ReadTimestamped(frame);
        return value > 0 ? value : throw new ProtocolException("BROADCAST_ACK of a sequence below 1");
    }

    /// <summary>BROADCAST_TAIL: the sender's broadcast stream stands at <paramref name="last"/>, the sequence of the
    /// last broadcast it published before this frame.</summary>
    public static byte[] BroadcastTail(NodeId sender, long last)
    {
        var frame = new byte[Wire.HeaderSize + Wire.NodeIdSize + 8];
        Wire.WriteHeader(frame, FrameType.BroadcastTail);
        sender.WriteTo(frame.AsSpan(Wire.HeaderSize));
        BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(Wire.HeaderSize + Wire.NodeIdSize), last);
        return frame;
    }

    public static BroadcastTailFrame ReadBroadcastTail(ReadOnlySpan<byte> frame)
    {
        var r = new FrameReader(frame);
        var sender = r.ReadNodeId("sender");
        var last = r.ReadI64("last");
        r.ExpectEnd("BROADCAST_TAIL");
        return last > 0 ? new BroadcastTailFrame(sender, last) : throw new ProtocolException("BROADCAST_TAIL of a sequence below 1");
    }

    public static byte[] SubProbe(ulong token)
    {
        var frame = new byte[Wire.HeaderSize + 8];
        Wire.WriteHeader(frame, FrameType.SubProbe);
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(Wire.HeaderSize), token);
        return frame;
    }

    public static ulong ReadSubProbe(ReadOnlySpan<byte> frame)
    {
        var r = new FrameReader(frame);
        var token = r.ReadU64("token");
        r.ExpectEnd("SUB_PROBE");
        return token;
    }

    public static byte[] PubProbe(PubProbeFrame f)
    {
        var size = Wire.HeaderSize + 2 * Wire.NodeIdSize + 8;
        var frame = new byte[f.LastPublished is null ? size : size + 8];
        Wire.WriteHeader(frame, FrameType.PubProbe);
        f.Sender.WriteTo(frame.AsSpan(Wire.HeaderSize));
        f.Target.WriteTo(frame.AsSpan(Wire.HeaderSize + Wire.NodeIdSize));
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(Wire.HeaderSize + 2 * Wire.NodeIdSize), f.Token);
        if (f.LastPublished is { } last) BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(size), last);
        return frame;
    }

    public static PubProbeFrame ReadPubProbe(ReadOnlySpan<byte> frame)
    {
        var r = new FrameReader(frame);
        var sender = r.ReadNodeId("sender");
        var target = r.ReadNodeId("target");
        var token = r.ReadU64("token");
        long? last = r.Remaining > 0 ? r.ReadI64("last published") : null;
        r.ExpectEnd("PUB_PROBE");
        return last < 0 ? throw new ProtocolException("PUB_PROBE of a broadcast sequence below 0") : new PubProbeFrame(sender, target, token, last);
    }

    public static byte[] Peers(IReadOnlyList<PeerRecord> peers)
    {
        var size = Wire.HeaderSize + 2;
        foreach (var p in peers) size += Wire.NodeIdSize + Wire.Str8Size(p.Name) + Wire.Str8Size(p.Host) + 4;
        var frame = new byte[size];
        Wire.WriteHeader(frame, FrameType.Peers);
        Wire.WriteU16(frame.AsSpan(Wire.HeaderSize), peers.Count);
        var pos = Wire.HeaderSize + 2;
        foreach (var p in peers)
        {
            p.Id.WriteTo(frame.AsSpan(pos));
            pos += Wire.NodeIdSize;
            pos += Wire.WriteStr8(frame.AsSpan(pos), p.Name);
            pos += Wire.WriteStr8(frame.AsSpan(pos), p.Host);
            Wire.WriteU16(frame.AsSpan(pos), p.Port);
            Wire.WriteU16(frame.AsSpan(pos + 2), p.PublishPort);
            pos += 4;
        }
        return frame;
    }

    public static List<PeerRecord> ReadPeers(ReadOnlySpan<byte> frame)
    {
        var r = new FrameReader(frame);
        var count = r.ReadU16("count");
        if (count > Wire.MaxPeersPerList) throw new ProtocolException($"PEERS lists {count} peers, more than {Wire.MaxPeersPerList}");
        var list = new List<PeerRecord>(count);
        for (var i = 0; i < count; i++)
        {
            var id = r.ReadNodeId("node id");
            var name = r.ReadName("name");
            var host = r.ReadStr8("host");
            var port = r.ReadU16("port");
            var pubPort = r.ReadU16("publish port");
            ValidateAddress(host, port, pubPort);
            list.Add(new PeerRecord(id, name, host, port, pubPort));
        }
        r.ExpectEnd("PEERS");
        return list;
    }

    private static void ValidateAddress(string host, int port, int pubPort)
    {
        if (host.Length == 0 || Uri.CheckHostName(host) == UriHostNameType.Unknown) throw new ProtocolException($"host '{host}' is not a host name or address");
        if (port == 0 || pubPort == 0) throw new ProtocolException("port 0");
    }
}
