using System.Buffers.Binary;

namespace Messenger.Protocol;

/// <summary>Decodes a DATA or BROADCAST batch frame. The whole frame is validated by <see cref="Validate"/>
/// before a single record is delivered, so a corrupt batch delivers nothing.</summary>
internal static class BatchReader
{
    public const byte FlagTopic = 0x01;

    /// <summary>Offset of the record count: after the header, and after the sender id in a BROADCAST.</summary>
    public static int CountOffset(FrameType type) => type == FrameType.Broadcast ? Wire.HeaderSize + Wire.NodeIdSize : Wire.HeaderSize;

    public static NodeId ReadSender(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < Wire.HeaderSize + Wire.NodeIdSize) throw new ProtocolException("BROADCAST truncated in sender");
        return new NodeId(frame.Slice(Wire.HeaderSize, Wire.NodeIdSize));
    }

    /// <summary>Checks every record of the batch and returns how many there are.</summary>
    public static int Validate(ReadOnlySpan<byte> frame, FrameType type, int maxMessageSize)
    {
        var r = new FrameReader(frame, CountOffset(type));
        var count = r.ReadU32("count");
        if (count == 0) throw new ProtocolException("empty batch");
        if (count > (uint)(r.Remaining / Wire.RecordFixedSize)) throw new ProtocolException($"batch claims {count} records, more than fit in the frame");
        for (var i = 0u; i < count; i++)
        {
            var flags = r.ReadByte("flags");
            if ((flags & ~FlagTopic) != 0) throw new ProtocolException($"unknown flags 0x{flags:x2}");
            var contentType = r.ReadByte("content type");
            if (contentType > (byte)MessageContentType.Json) throw new ProtocolException($"unknown content type {contentType}");
            var sequence = r.ReadI64("sequence");
            if (sequence <= 0) throw new ProtocolException("sequence not positive");
            r.ReadI64("sent at");
            if ((flags & FlagTopic) != 0)
            {
                var topic = r.ReadStr8("topic");
                if (topic.Length == 0) throw new ProtocolException("empty topic");
            }
            var length = r.ReadU32("body length");
            if (length > (uint)maxMessageSize) throw new ProtocolException($"body of {length} bytes is over the limit of {maxMessageSize}");
            r.ReadBytes((int)length, "body");
        }
        r.ExpectEnd("batch");
        return (int)count;
    }

    /// <summary>Reads the records of a batch that <see cref="Validate"/> accepted.</summary>
    public static void Read(byte[] frame, FrameType type, List<BatchRecord> into)
    {
        var pos = CountOffset(type);
        var count = BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(pos));
        pos += 4;
        for (var i = 0u; i < count; i++)
        {
            var flags = frame[pos];
            var contentType = (MessageContentType)frame[pos + 1];
            var sequence = BinaryPrimitives.ReadInt64LittleEndian(frame.AsSpan(pos + 2));
            var sentAt = BinaryPrimitives.ReadInt64LittleEndian(frame.AsSpan(pos + 10));
            pos += 18;
            string? topic = null;
            if ((flags & FlagTopic) != 0)
            {
                var n = frame[pos];
                topic = TopicCache.Get(frame.AsSpan(pos + 1, n));
                pos += 1 + n;
            }
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(pos));
            pos += 4;
            into.Add(new BatchRecord(contentType, sequence, sentAt, topic, new ReadOnlyMemory<byte>(frame, pos, length)));
            pos += length;
        }
    }
}
