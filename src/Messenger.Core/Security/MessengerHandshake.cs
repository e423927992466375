using System.Text;
using Messenger.Security.Noise;

namespace Messenger.Security;

/// <summary>The handshake of wire protocol 2: Noise XXpsk3 with X25519, ChaCha20-Poly1305 and SHA-256. The
/// prologue binds the protocol version and the cluster name; the pre-shared key is the cluster key (or, in
/// allowlist-only mode, a constant: membership is then proven by the static key alone).</summary>
internal static class MessengerHandshake
{
    public const string ProtocolName = "Noise_XXpsk3_25519_ChaChaPoly_SHA256";
    public const NoiseCipher Cipher = NoiseCipher.ChaChaPoly;

    public static readonly NoiseProtocol Protocol = NoiseProtocol.Parse(ProtocolName);

    /// <summary>The pre-shared key when no cluster key is in use: SHA-256 of a fixed label. Public by design.</summary>
    public static readonly byte[] AllowlistOnlyPsk = System.Security.Cryptography.SHA256.HashData("Messenger allowlist-only membership"u8);

    public static byte[] Prologue(string cluster) => Encoding.UTF8.GetBytes($"Messenger/2 {cluster}");
}
