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

    /// <summary>A node's id: the first 16 bytes of the SHA-256 of its public key.</summary>
    public static NodeId FromPublicKey(ReadOnlySpan<byte> publicKey)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(publicKey, hash);
        return new NodeId(hash);
    }

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    public override string ToString() => $"{High:x16}{Low:x16}";
}
