using System.Security.Cryptography;
using NaCl;

namespace Messenger.Security.Noise;

/// <summary>The Noise DH function 25519 (X25519, RFC 7748) on top of NaCl.Net's Curve25519.</summary>
internal static class NoiseDh
{
    /// <summary>Computes the public key of a 32-byte private key (the scalar is clamped by X25519).</summary>
    public static void DerivePublicKey(ReadOnlySpan<byte> privateKey, Span<byte> publicKey)
    {
        CheckLength(privateKey.Length, "private key");
        CheckLength(publicKey.Length, "public key buffer");

        // NaCl's base multiplication takes a mutable span; hand it a scratch copy so the caller's key stays untouched.
        Span<byte> scalar = stackalloc byte[NoiseConstants.DhLength];
        try
        {
            privateKey.CopyTo(scalar);
            Curve25519.ScalarMultiplicationBase(publicKey, scalar);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(scalar);
        }
    }

    /// <summary>
    /// DH(private, public) into <paramref name="sharedSecret"/>. An all-zero result (a low-order remote
    /// public key) is rejected, as the specification allows.
    /// </summary>
    /// <exception cref="NoiseException">Wrong lengths or a low-order remote public key.</exception>
    public static void Agree(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> publicKey, Span<byte> sharedSecret)
    {
        CheckLength(privateKey.Length, "private key");
        CheckLength(publicKey.Length, "public key");
        CheckLength(sharedSecret.Length, "shared secret buffer");

        Curve25519.ScalarMultiplication(sharedSecret, privateKey, publicKey);

        Span<byte> zero = stackalloc byte[NoiseConstants.DhLength];
        zero.Clear();
        if (CryptographicOperations.FixedTimeEquals(sharedSecret, zero))
        {
            throw new NoiseException("X25519 produced an all-zero shared secret (invalid remote public key).");
        }
    }

    private static void CheckLength(int length, string what)
    {
        if (length != NoiseConstants.DhLength)
        {
            throw new NoiseException($"X25519 {what} must be {NoiseConstants.DhLength} bytes, got {length}.");
        }
    }
}
