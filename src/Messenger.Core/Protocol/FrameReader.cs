using System.Buffers.Binary;

namespace Messenger.Protocol;

/// <summary>Reads the fields of one received frame, checking every length against what is left.</summary>
internal ref struct FrameReader
{
    private readonly ReadOnlySpan<byte> _frame;
    private int _position;

    public FrameReader(ReadOnlySpan<byte> frame, int start = Wire.HeaderSize)
    {
        _frame = frame;
        _position = start;
    }

    public readonly int Position => _position;
    public readonly int Remaining => _frame.Length - _position;

    private ReadOnlySpan<byte> Take(int count, string field)
    {
        if (count < 0 || count > Remaining) throw new ProtocolException($"frame truncated in {field}");
        var span = _frame.Slice(_position, count);
        _position += count;
        return span;
    }

    public byte ReadByte(string field) => Take(1, field)[0];
    public ushort ReadU16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, field));
    public uint ReadU32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));
    public long ReadI64(string field) => BinaryPrimitives.ReadInt64LittleEndian(Take(8, field));
    public ulong ReadU64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));
    public ReadOnlySpan<byte> ReadBytes(int count, string field) => Take(count, field);
    public NodeId ReadNodeId(string field) => new(Take(Wire.NodeIdSize, field));

    public string ReadStr8(string field)
    {
        var length = ReadByte(field);
        var bytes = Take(length, field);
        try
        {
            return Wire.StrictUtf8.GetString(bytes);
        }
        catch (ArgumentException)
        {
            throw new ProtocolException($"{field} is not valid UTF-8");
        }
    }

    public string ReadName(string field)
    {
        var name = ReadStr8(field);
        if (!Wire.IsValidName(name)) throw new ProtocolException($"{field} '{Truncate(name)}' is not a valid name");
        return name;
    }

    public readonly void ExpectEnd(string what)
    {
        if (Remaining != 0) throw new ProtocolException($"{Remaining} unexpected bytes after {what}");
    }

    private static string Truncate(string s) => s.Length > 32 ? s[..32] + "..." : s;
}
