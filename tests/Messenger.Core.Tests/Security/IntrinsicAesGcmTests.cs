using System.Security.Cryptography;
using Messenger.Security.Aead;
using Xunit;

namespace Messenger.Core.Tests.Security;

public class IntrinsicAesGcmTests
{
    // The AES-256 cases of the GCM specification (McGrew and Viega, test cases 13 and 14).
    [AesInstructionsTheory]
    [InlineData("", "", "530f8afbc74536b9a963b4f1c4cb738b")]
    [InlineData("00000000000000000000000000000000", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919")]
    public void Matches_the_specification_vectors(string plaintextHex, string ciphertextHex, string tagHex)
    {
        using var gcm = new IntrinsicAesGcm(new byte[32]);
        var plaintext = Convert.FromHexString(plaintextHex);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[16];
        gcm.Encrypt(new byte[12], plaintext, ciphertext, tag, []);
        Assert.Equal(ciphertextHex, Convert.ToHexStringLower(ciphertext));
        Assert.Equal(tagHex, Convert.ToHexStringLower(tag));
    }

    /// <summary>The system's AesGcm is the reference: every length of data and associated data around the block and
    /// four-block boundaries, with random keys and nonces, must give the same ciphertext and tag, and open both ways.</summary>
    [AesInstructionsFact]
    public void Agrees_with_the_system_implementation_on_every_length()
    {
        var random = new Random(20261127);
        int[] adLengths = [0, 1, 11, 15, 16, 17, 32, 45];
        for (var length = 0; length <= 300; length++)
        {
            foreach (var adLength in adLengths)
            {
                var key = RandomNumberGenerator.GetBytes(32);
                var nonce = RandomNumberGenerator.GetBytes(12);
                var ad = RandomNumberGenerator.GetBytes(adLength);
                var plaintext = new byte[length];
                random.NextBytes(plaintext);

                using var reference = new AesGcm(key, 16);
                using var ours = new IntrinsicAesGcm(key);
                var expected = new byte[length];
                var expectedTag = new byte[16];
                reference.Encrypt(nonce, plaintext, expected, expectedTag, ad);
                var actual = new byte[length];
                var actualTag = new byte[16];
                ours.Encrypt(nonce, plaintext, actual, actualTag, ad);
                Assert.Equal(expected, actual);
                Assert.Equal(expectedTag, actualTag);

                var opened = new byte[length];
                Assert.True(ours.TryDecrypt(nonce, expected, expectedTag, opened, ad));
                Assert.Equal(plaintext, opened);
            }
        }
    }

    [AesInstructionsTheory]
    [InlineData(1000)]
    [InlineData(4096)]
    [InlineData(65536 - 16)]
    public void Agrees_with_the_system_implementation_on_large_frames(int length)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(12);
        var plaintext = RandomNumberGenerator.GetBytes(length);
        using var reference = new AesGcm(key, 16);
        using var ours = new IntrinsicAesGcm(key);
        var expected = new byte[length];
        var expectedTag = new byte[16];
        reference.Encrypt(nonce, plaintext, expected, expectedTag, new byte[] { 1, 2, 3 });
        var actual = new byte[length];
        var actualTag = new byte[16];
        ours.Encrypt(nonce, plaintext, actual, actualTag, new byte[] { 1, 2, 3 });
        Assert.Equal(expected, actual);
        Assert.Equal(expectedTag, actualTag);
    }

    [AesInstructionsFact]
    public void Seals_and_opens_in_place()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(12);
        var plaintext = RandomNumberGenerator.GetBytes(133);
        using var ours = new IntrinsicAesGcm(key);
        var buffer = plaintext.ToArray();
        var tag = new byte[16];
        ours.Encrypt(nonce, buffer, buffer, tag, []);
        Assert.NotEqual(plaintext, buffer);
        Assert.True(ours.TryDecrypt(nonce, buffer, tag, buffer, []));
        Assert.Equal(plaintext, buffer);
    }

    /// <summary>A change to any bit of the ciphertext, the tag, the associated data or the nonce fails the check, and
    /// nothing is written to the plaintext.</summary>
    [AesInstructionsFact]
    public void Refuses_any_change_and_writes_nothing()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(12);
        var ad = RandomNumberGenerator.GetBytes(11);
        var plaintext = RandomNumberGenerator.GetBytes(70);
        using var ours = new IntrinsicAesGcm(key);
        var ciphertext = new byte[70];
        var tag = new byte[16];
        ours.Encrypt(nonce, plaintext, ciphertext, tag, ad);

        foreach (var target in new[] { ciphertext, tag, ad, nonce })
        {
            for (var bit = 0; bit < target.Length * 8; bit += 7)
            {
                target[bit / 8] ^= (byte)(1 << (bit % 8));
                var output = new byte[70];
                Assert.False(ours.TryDecrypt(nonce, ciphertext, tag, output, ad));
                Assert.All(output, b => Assert.Equal(0, b));
                target[bit / 8] ^= (byte)(1 << (bit % 8));
            }
        }
        var opened = new byte[70];
        Assert.True(ours.TryDecrypt(nonce, ciphertext, tag, opened, ad));
        Assert.Equal(plaintext, opened);
    }
}
