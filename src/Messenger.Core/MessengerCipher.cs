namespace Messenger;

/// <summary>The AEAD that seals a secure node's frames once its handshake is done. The handshake itself is always
/// Noise XXpsk3 with ChaCha20-Poly1305.</summary>
public enum MessengerCipher
{
    /// <summary>AES-256-GCM where the processor has AES instructions (x86 AES-NI with carry-less multiply, or
    /// ARMv8 AES), else ChaCha20-Poly1305: on such processors AES-256-GCM seals several times faster.</summary>
    Auto = 0,

    /// <summary>ChaCha20-Poly1305 (RFC 8439), fast in software on any processor.</summary>
    ChaCha20Poly1305 = 1,

    /// <summary>AES-256-GCM.</summary>
    Aes256Gcm = 2,
}
