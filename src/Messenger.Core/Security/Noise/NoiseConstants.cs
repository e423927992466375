namespace Messenger.Security.Noise;

/// <summary>Sizes fixed by the Noise specification (revision 34) for 25519 / SHA256 / 256-bit AEADs.</summary>
internal static class NoiseConstants
{
    /// <summary>Maximum length of any Noise message (handshake or transport), in bytes.</summary>
    public const int MaxMessageLength = 65535;

    /// <summary>Length of an AEAD authentication tag, in bytes.</summary>
    public const int TagLength = 16;

    /// <summary>Maximum plaintext of a transport message once a key is set (65535 - 16).</summary>
    public const int MaxPayloadLength = MaxMessageLength - TagLength;

    /// <summary>Length of a cipher key, in bytes.</summary>
    public const int KeyLength = 32;

    /// <summary>Length of an X25519 public key, private key or shared secret (DHLEN).</summary>
    public const int DhLength = 32;

    /// <summary>Length of a SHA256 output (HASHLEN).</summary>
    public const int HashLength = 32;

    /// <summary>SHA256 block length (BLOCKLEN).</summary>
    public const int BlockLength = 64;

    /// <summary>Length of a pre-shared key, in bytes.</summary>
    public const int PskLength = 32;

    /// <summary>Length of the AEAD nonce built from the 64-bit counter.</summary>
    public const int NonceLength = 12;
}
