using Messenger.Security.Noise;
using Xunit;

namespace Messenger.Tests.Security;

public sealed class NoisePatternTests
{
    public static TheoryData<string> BaseNames()
    {
        var data = new TheoryData<string>();
        foreach (string name in NoiseHandshakePattern.SupportedBaseNames)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(BaseNames))]
    public void Every_table_pattern_is_valid(string name)
    {
        NoiseHandshakePattern pattern = NoiseHandshakePattern.Parse(name);
        Assert.Equal(name, pattern.Name);
        Assert.False(pattern.HasPsk);
        Assert.Equal(name.Length == 1, pattern.IsOneWay);
    }

    [Fact]
    public void Table_covers_one_way_fundamental_and_deferred_patterns()
    {
        Assert.Equal(3 + 12 + 23, NoiseHandshakePattern.SupportedBaseNames.Count);
    }

    [Fact]
    public void Psk_modifiers_are_placed_as_specified()
    {
        NoiseHandshakePattern xx = NoiseHandshakePattern.Parse("XXpsk3");
        Assert.Equal("-> s, se, psk", xx.Messages[2].ToString());
        Assert.Equal(1, xx.PskCount);

        NoiseHandshakePattern ik = NoiseHandshakePattern.Parse("IKpsk2");
        Assert.Equal("-> e, es, s, ss", ik.Messages[0].ToString());
        Assert.Equal("<- e, ee, se, psk", ik.Messages[1].ToString());
        Assert.Equal("<- s", ik.ResponderPreMessage!.ToString());

        NoiseHandshakePattern nn = NoiseHandshakePattern.Parse("NNpsk0+psk2");
        Assert.Equal("-> psk, e", nn.Messages[0].ToString());
        Assert.Equal("<- e, ee, psk", nn.Messages[1].ToString());
        Assert.Equal(2, nn.PskCount);
    }

    [Theory]
    [InlineData("Noise_XX_448_ChaChaPoly_SHA256")]
    [InlineData("Noise_XX_25519_ChaChaPoly_BLAKE2s")]
    [InlineData("Noise_XX_25519_ChaChaPoly_SHA512")]
    [InlineData("Noise_XX_25519_AESGCM256_SHA256")]
    [InlineData("Noise_XXfallback_25519_ChaChaPoly_SHA256")]
    [InlineData("Noise_XXhfs_25519+Kyber1024_ChaChaPoly_SHA256")]
    [InlineData("Noise_XXpsk4_25519_ChaChaPoly_SHA256")]
    [InlineData("Noise_XXpsk_25519_ChaChaPoly_SHA256")]
    [InlineData("Noise_XXpsk01_25519_ChaChaPoly_SHA256")]
    [InlineData("Noise_XXpsk3+psk3_25519_ChaChaPoly_SHA256")]
    [InlineData("Noise_ZZ_25519_ChaChaPoly_SHA256")]
    [InlineData("Noise_xx_25519_ChaChaPoly_SHA256")]
    [InlineData("Noise_XX_25519_ChaChaPoly")]
    [InlineData("NoiseX_XX_25519_ChaChaPoly_SHA256")]
    [InlineData("")]
    public void Unsupported_or_malformed_names_throw_NoiseException(string name)
    {
        Assert.Throws<NoiseException>(() => NoiseProtocol.Parse(name));
    }

    [Fact]
    public void Protocol_name_is_parsed()
    {
        NoiseProtocol protocol = NoiseProtocol.Parse("Noise_XXpsk3_25519_AESGCM_SHA256");
        Assert.Equal(NoiseCipher.AesGcm, protocol.Cipher);
        Assert.Equal("XX", protocol.Pattern.BaseName);
        Assert.Equal(["psk3"], protocol.Pattern.Modifiers);
        Assert.Equal("Noise_IKpsk2_25519_ChaChaPoly_SHA256", NoiseProtocol.Create("IKpsk2", NoiseCipher.ChaChaPoly).Name);
    }
}
