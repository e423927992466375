using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Messenger.Protocol;

/// <summary>The 16-byte identifier of a node; shown as 32 lowercase hex digits.</summary>
internal readonly record struct NodeId(ulong High, ulong Low)
{
    public NodeId(ReadOnlySpan<byte> bytes)
        : this(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]))
    {
    }

    public static NodeId NewRandom()
    {
        Span<byte> bytes = stackalloc byte[Wire.NodeIdSize];
        RandomNumberGenerator.Fill(bytes);
        return new NodeId(bytes);
    }

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    public override string ToString() => $"{High:x16}{Low:x16}";
}
