using System.Security.Cryptography;
using System.Text;

namespace Messenger.Stress;

/// <summary>
/// A stranger's first handshake message, computed by hand from docs/PROTOCOL.md and the Noise specification
/// (revision 34), without Messenger.Core: Noise_XXpsk3_25519_ChaChaPoly_SHA256, prologue "Messenger/2 " + cluster,
/// message 1 = "-> e" with an empty payload. With a psk pattern the ephemeral key is also mixed into the chaining
/// key, so the empty payload is encrypted: message 1 is e.pub (32 bytes) and a 16-byte tag. A node can verify it
/// without any secret, so a well-formed message 1 is what a half-open connection sends.
/// </summary>
internal static class NoiseHello
{
    private const string ProtocolName = "Noise_XXpsk3_25519_ChaChaPoly_SHA256";

    /// <summary>The HELLO frame: 4D 02 01, cluster (str8), Noise message 1.</summary>
    public static byte[] Frame(string cluster)
    {
        var message = Message1(cluster);
        var name = Encoding.UTF8.GetBytes(cluster);
        var frame = new byte[3 + 1 + name.Length + message.Length];
        frame[0] = 0x4D;
        frame[1] = 0x02;
        frame[2] = 0x01;
        frame[3] = (byte)name.Length;
        name.CopyTo(frame, 4);
        message.CopyTo(frame, 4 + name.Length);
        return frame;
    }

    public static byte[] Message1(string cluster)
    {
        // InitializeSymmetric: the name is longer than HASHLEN, so h = HASH(name); ck = h.
        var h = SHA256.HashData(Encoding.ASCII.GetBytes(ProtocolName));
        var ck = (byte[])h.Clone();
        h = MixHash(h, Encoding.UTF8.GetBytes("Messenger/2 " + cluster));

        // Token e: a fresh key pair; MixHash(e.pub); psk pattern: MixKey(e.pub).
        var scalar = RandomNumberGenerator.GetBytes(32);
        var ephemeral = new byte[32];
        NaCl.Curve25519.ScalarMultiplicationBase(ephemeral, scalar);
        CryptographicOperations.ZeroMemory(scalar);
        h = MixHash(h, ephemeral);
        var (_, k) = Hkdf(ck, ephemeral);

        // EncryptAndHash(empty payload) under k, nonce 0, ad = h: only the tag.
        var tag = new byte[16];
        using (var aead = new ChaCha20Poly1305(k))
        {
            aead.Encrypt(new byte[12], ReadOnlySpan<byte>.Empty, Span<byte>.Empty, tag, h);
        }
        return [.. ephemeral, .. tag];
    }

    private static byte[] MixHash(byte[] h, byte[] data) => SHA256.HashData([.. h, .. data]);

    private static (byte[] Ck, byte[] K) Hkdf(byte[] chainingKey, byte[] input)
    {
        var temp = HMACSHA256.HashData(chainingKey, input);
        var out1 = HMACSHA256.HashData(temp, new byte[] { 0x01 });
        var out2 = HMACSHA256.HashData(temp, out1.Append((byte)0x02).ToArray());
        return (out1, out2);
    }
}
