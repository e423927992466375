using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Messenger.Stress;

/// <summary>
/// The attacker's side of ZMTP 3.0 (rfc.zeromq.org/spec/23), written by hand on a raw TCP socket: the 64-byte
/// greeting with the NULL mechanism, a READY command that says DEALER, then single-part message frames. This is
/// all a stranger needs to put frames into a node's ROUTER socket, without NetMQ's per-socket cost on the
/// attacker's side.
/// </summary>
internal static class Zmtp
{
    /// <summary>Greeting and READY(Socket-Type=DEALER, Identity=empty), sent at once after connecting.</summary>
    public static readonly byte[] Opening = BuildOpening();

    private static byte[] BuildOpening()
    {
        var greeting = new byte[64];
        greeting[0] = 0xFF;
        greeting[8] = 0x01; // padding: libzmq's identity length + 1
        greeting[9] = 0x7F;
        greeting[10] = 3; // version 3.0
        greeting[11] = 0;
        "NULL"u8.CopyTo(greeting.AsSpan(12)); // mechanism, 20 bytes zero padded; as-server 0; filler 31 zeros

        var body = new List<byte>();
        void Property(string name, string value)
        {
            body.Add((byte)name.Length);
            body.AddRange(System.Text.Encoding.ASCII.GetBytes(name));
            var size = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(size, value.Length);
            body.AddRange(size);
            body.AddRange(System.Text.Encoding.ASCII.GetBytes(value));
        }
        body.Add(5);
        body.AddRange("READY"u8.ToArray());
        Property("Socket-Type", "DEALER");
        Property("Identity", "");
        var ready = new byte[2 + body.Count];
        ready[0] = 0x04; // command, short
        ready[1] = (byte)body.Count;
        body.CopyTo(ready, 2);
        return [.. greeting, .. ready];
    }

    /// <summary>Size of a single-part message frame holding <paramref name="length"/> bytes.</summary>
    public static int FrameSize(int length) => length <= 255 ? 2 + length : 9 + length;

    /// <summary>Writes one single-part message frame; returns its size.</summary>
    public static int WriteFrame(Span<byte> destination, ReadOnlySpan<byte> message)
    {
        if (message.Length <= 255)
        {
            destination[0] = 0x00;
            destination[1] = (byte)message.Length;
            message.CopyTo(destination[2..]);
            return 2 + message.Length;
        }
        destination[0] = 0x02;
        BinaryPrimitives.WriteUInt64BigEndian(destination[1..], (ulong)message.Length);
        message.CopyTo(destination[9..]);
        return 9 + message.Length;
    }

    public static byte[] Frame(ReadOnlySpan<byte> message)
    {
        var frame = new byte[FrameSize(message.Length)];
        WriteFrame(frame, message);
        return frame;
    }

    public static Socket NewSocket()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        // Closed with FIN, not RST: a node that has not yet read a HELLO still gets it (RST would discard it).
        return socket;
    }

    public static IPEndPoint ParseEndpoint(string endpoint)
    {
        // tcp://host:port
        var text = endpoint.StartsWith("tcp://", StringComparison.Ordinal) ? endpoint[6..] : endpoint;
        var colon = text.LastIndexOf(':');
        return new IPEndPoint(IPAddress.Parse(text[..colon]), int.Parse(text[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }
}

/// <summary>
/// Reads what a node sends back on a ZMTP connection: the peer's greeting, its commands, then message frames;
/// hands each message's body to a callback. Incremental: feed it whatever the socket returned.
/// </summary>
internal sealed class ZmtpReader
{
    private readonly Action<ReadOnlySpan<byte>> _onMessage;
    private byte[] _buffer = new byte[4096];
    private int _count;
    private bool _greeted;

    public ZmtpReader(Action<ReadOnlySpan<byte>> onMessage) => _onMessage = onMessage;

    public long Messages { get; private set; }

    public void Feed(ReadOnlySpan<byte> data)
    {
        if (_count + data.Length > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _count + data.Length));
        data.CopyTo(_buffer.AsSpan(_count));
        _count += data.Length;
        var pos = 0;
        if (!_greeted)
        {
            if (_count < 64) return;
            if (_buffer[0] != 0xFF || (_buffer[9] & 1) != 1) throw new InvalidDataException("not a ZMTP 3 greeting");
            pos = 64;
            _greeted = true;
        }
        while (true)
        {
            if (_count - pos < 2) break;
            var flags = _buffer[pos];
            long size;
            int header;
            if ((flags & 0x02) != 0)
            {
                if (_count - pos < 9) break;
                size = (long)BinaryPrimitives.ReadUInt64BigEndian(_buffer.AsSpan(pos + 1));
                header = 9;
            }
            else
            {
                size = _buffer[pos + 1];
                header = 2;
            }
            if (size > 16 * 1024 * 1024) throw new InvalidDataException("oversized ZMTP frame");
            if (_count - pos < header + size) break;
            if ((flags & 0x04) == 0)
            {
                Messages++;
                _onMessage(_buffer.AsSpan(pos + header, (int)size));
            }
            pos += header + (int)size;
        }
        if (pos > 0)
        {
            _buffer.AsSpan(pos, _count - pos).CopyTo(_buffer);
            _count -= pos;
        }
    }
}
