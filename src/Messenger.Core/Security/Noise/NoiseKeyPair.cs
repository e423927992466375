using System.Security.Cryptography;

namespace Messenger.Security.Noise;

/// <summary>
/// An X25519 key pair. The private key is zeroed on <see cref="Dispose"/>; neither key appears in
/// <see cref="ToString"/>.
/// </summary>
internal sealed class NoiseKeyPair : IDisposable
{
    private readonly byte[] _privateKey;
    private readonly byte[] _publicKey;
    private bool _disposed;

    private NoiseKeyPair(byte[] privateKey, byte[] publicKey)
    {
        _privateKey = privateKey;
        _publicKey = publicKey;
    }

    /// <summary>The 32-byte public key.</summary>
    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>The 32-byte private key (for persisting a static identity). Throws once disposed.</summary>
    public ReadOnlySpan<byte> PrivateKey
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _privateKey;
        }
    }

    /// <summary>Generates a key pair from 32 bytes of <see cref="RandomNumberGenerator"/> output.</summary>
    public static NoiseKeyPair Generate()
    {
        byte[] privateKey = new byte[NoiseConstants.DhLength];
        RandomNumberGenerator.Fill(privateKey);
        return FromOwnedPrivateKey(privateKey);
    }

    /// <summary>Builds a key pair from an existing 32-byte private key (copied).</summary>
    /// <exception cref="NoiseException">The key is not 32 bytes.</exception>
    public static NoiseKeyPair FromPrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != NoiseConstants.DhLength)
        {
            throw new NoiseException($"An X25519 private key must be {NoiseConstants.DhLength} bytes, got {privateKey.Length}.");
        }

        return FromOwnedPrivateKey(privateKey.ToArray());
    }

    /// <summary>An independent copy (own private key buffer) of this key pair. The public key is copied, not derived
    /// again: every handshake clones the node's static pair, and an X25519 operation costs 0.2 ms or more.</summary>
    public NoiseKeyPair Clone() => new(PrivateKey.ToArray(), _publicKey.ToArray());

    /// <summary>DH(this private key, <paramref name="remotePublicKey"/>) into <paramref name="sharedSecret"/>.</summary>
    public void Agree(ReadOnlySpan<byte> remotePublicKey, Span<byte> sharedSecret)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        NoiseDh.Agree(_privateKey, remotePublicKey, sharedSecret);
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            CryptographicOperations.ZeroMemory(_privateKey);
            _disposed = true;
        }
    }

    public override string ToString() => _disposed ? "NoiseKeyPair(X25519, disposed)" : "NoiseKeyPair(X25519)";

    private static NoiseKeyPair FromOwnedPrivateKey(byte[] privateKey)
    {
        byte[] publicKey = new byte[NoiseConstants.DhLength];
        NoiseDh.DerivePublicKey(privateKey, publicKey);
        return new NoiseKeyPair(privateKey, publicKey);
    }
}
