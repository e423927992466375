using System.Buffers.Binary;

namespace Messenger.Protocol;

/// <summary>Decodes a DATA or BROADCAST batch frame. The whole frame is validated by <see cref="Validate"/>
/// before a single record is delivered, so a corrupt batch delivers nothing.</summary>
internal static class BatchReader
{
    public const byte FlagTopic = 0x01;

    /// <summary>The sender waits for this message's acknowledgement: the receiver acknowledges the frame at once
    /// instead of within <c>AckDelay</c>.</summary>
    public const byte FlagAckNow = 0x02;

    /// <summary>The sender withdrew the message (its body was over the receiver's MaxMessageSize, which the sender
    /// learnt after it queued it): the record has no body, and takes its sequence number without a delivery.</summary>
    public const byte FlagWithdrawn = 0x04;

    /// <summary>Size of a DATA frame's <c>ack</c> field, which follows the header.</summary>
    public const int AckSize = 8;

    /// <summary>Offset of the record count: after the header, and after the sender id in a BROADCAST or the
    /// <c>ack</c> field in a DATA.</summary>
    public static int CountOffset(FrameType type) => type switch
    {
        FrameType.Broadcast => Wire.HeaderSize + Wire.NodeIdSize,
        FrameType.Data => Wire.HeaderSize + AckSize,
        _ => Wire.HeaderSize,
    };

    /// <summary>A DATA frame's <c>ack</c> field: the last unicast sequence from the frame's receiver that its sender
    /// has (0: none acknowledged).</summary>
    public static long ReadAck(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < Wire.HeaderSize + AckSize) throw new ProtocolException("DATA truncated in ack");
        var sequence = BinaryPrimitives.ReadInt64LittleEndian(frame[Wire.HeaderSize..]);
        if (sequence < 0) throw new ProtocolException("ack negative");
        return sequence;
    }

    public static void WriteAck(Span<byte> frame, long sequence) => BinaryPrimitives.WriteInt64LittleEndian(frame[Wire.HeaderSize..], sequence);

    public static NodeId ReadSender(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < Wire.HeaderSize + Wire.NodeIdSize) throw new ProtocolException("BROADCAST truncated in sender");
        return new NodeId(frame.Slice(Wire.HeaderSize, Wire.NodeIdSize));
    }

    /// <summary>Checks every record of the batch and returns how many there are.</summary>
    public static int Validate(byte[] frame, FrameType type)
    {
        var records = new List<BatchRecord>();
        Read(frame, type, records);
        return records.Count;
    }

    /// <summary>Checks and decodes the records of a batch in one pass; the bodies point into
    /// <paramref name="frame"/>. A body over the receiver's MaxMessageSize is not malformed: the receiver drops
    /// that message alone (the frame's size is bounded by the socket already). Returns a DATA frame's <c>ack</c> (0 for a BROADCAST). On a malformed record it
    /// throws <see cref="ProtocolException"/> with <paramref name="into"/> partly filled: the caller delivers nothing
    /// from it.</summary>
    public static long Read(byte[] frame, FrameType type, List<BatchRecord> into) =>
        Read(new ArraySegment<byte>(frame), type, into);

    /// <summary>As <see cref="Read(byte[], FrameType, List{BatchRecord})"/>, for a frame that is part of a
    /// larger buffer (opened in place in the buffer it arrived in).</summary>
    public static long Read(ArraySegment<byte> segment, FrameType type, List<BatchRecord> into)
    {
        var frame = segment.AsSpan();
        var ack = type == FrameType.Data ? ReadAck(frame) : 0;
        var pos = CountOffset(type);
        if (frame.Length - pos < 4) throw new ProtocolException("frame truncated in count");
        var count = BinaryPrimitives.ReadUInt32LittleEndian(frame[pos..]);
        pos += 4;
        if (count == 0) throw new ProtocolException("empty batch");
        if (count > (uint)((frame.Length - pos) / Wire.RecordFixedSize)) throw new ProtocolException($"batch claims {count} records, more than fit in the frame");
        for (var i = 0u; i < count; i++)
        {
            if (frame.Length - pos < Wire.RecordFixedSize) throw new ProtocolException("frame truncated in record");
            var flags = frame[pos];
            if ((flags & ~(FlagTopic | FlagAckNow | FlagWithdrawn)) != 0) throw new ProtocolException($"unknown flags 0x{flags:x2}");
            var contentType = frame[pos + 1];
            if (contentType > (byte)MessageContentType.Json) throw new ProtocolException($"unknown content type {contentType}");
            var sequence = BinaryPrimitives.ReadInt64LittleEndian(frame[(pos + 2)..]);
            if (sequence <= 0) throw new ProtocolException("sequence not positive");
            var sentAt = BinaryPrimitives.ReadInt64LittleEndian(frame[(pos + 10)..]);
            pos += 18;
            string? topic = null;
            if ((flags & FlagTopic) != 0)
            {
                var n = frame[pos];
                if (n == 0) throw new ProtocolException("empty topic");
                // The fixed size counts the body length but not the topic: the topic and that length must fit.
                if (frame.Length - pos < 1 + n + 4) throw new ProtocolException("frame truncated in topic");
                topic = TopicCache.Get(frame.Slice(pos + 1, n));
                pos += 1 + n;
            }
            var length = BinaryPrimitives.ReadUInt32LittleEndian(frame[pos..]);
            pos += 4;
            if (length > (uint)(frame.Length - pos)) throw new ProtocolException("frame truncated in body");
            var withdrawn = (flags & FlagWithdrawn) != 0;
            if (withdrawn && length != 0) throw new ProtocolException("a withdrawn record with a body");
            into.Add(new BatchRecord((MessageContentType)contentType, sequence, sentAt, topic, new ReadOnlyMemory<byte>(segment.Array, segment.Offset + pos, (int)length), (flags & FlagAckNow) != 0, withdrawn));
            pos += (int)length;
        }
        if (pos != frame.Length) throw new ProtocolException($"{frame.Length - pos} unexpected bytes after batch");
        return ack;
    }
}
