using System.Security.Cryptography;

namespace Messenger.Security.Noise;

/// <summary>
/// The Noise HKDF (section 4.3) over HMAC-SHA256: <c>temp_key = HMAC(ck, ikm)</c>,
/// <c>output1 = HMAC(temp_key, 0x01)</c>, <c>output2 = HMAC(temp_key, output1 || 0x02)</c>,
/// <c>output3 = HMAC(temp_key, output2 || 0x03)</c>.
/// </summary>
internal static class NoiseHkdf
{
    /// <summary>
    /// Derives two or three 32-byte outputs. <paramref name="output3"/> may be empty (two outputs).
    /// Outputs may alias <paramref name="chainingKey"/> (the temporary key is computed first).
    /// </summary>
    public static void Derive(
        ReadOnlySpan<byte> chainingKey,
        ReadOnlySpan<byte> inputKeyMaterial,
        Span<byte> output1,
        Span<byte> output2,
        Span<byte> output3)
    {
        const int H = NoiseConstants.HashLength;
        if (chainingKey.Length != H || output1.Length != H || output2.Length != H || (output3.Length != 0 && output3.Length != H))
        {
            throw new NoiseException("HKDF buffers must be 32 bytes.");
        }

        Span<byte> tempKey = stackalloc byte[H];
        Span<byte> block = stackalloc byte[H + 1];
        try
        {
            HMACSHA256.HashData(chainingKey, inputKeyMaterial, tempKey);

            block[0] = 0x01;
            HMACSHA256.HashData(tempKey, block[..1], output1);

            output1.CopyTo(block);
            block[H] = 0x02;
            HMACSHA256.HashData(tempKey, block, output2);

            if (!output3.IsEmpty)
            {
                output2.CopyTo(block);
                block[H] = 0x03;
                HMACSHA256.HashData(tempKey, block, output3);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(tempKey);
            CryptographicOperations.ZeroMemory(block);
        }
    }
}
