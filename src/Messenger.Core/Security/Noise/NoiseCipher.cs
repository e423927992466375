namespace Messenger.Security.Noise;

/// <summary>The AEAD cipher functions supported by this implementation.</summary>
internal enum NoiseCipher
{
    /// <summary>ChaCha20-Poly1305 (RFC 8439); nonce = 4 zero bytes + little-endian 64-bit counter.</summary>
    ChaChaPoly = 0,

    /// <summary>AES-256-GCM; nonce = 4 zero bytes + big-endian 64-bit counter.</summary>
    AesGcm = 1,
}
