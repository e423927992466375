using System.Text;

namespace Messenger.Security.Noise;

/// <summary>
/// A parsed Noise protocol name, <c>Noise_&lt;pattern&gt;_25519_&lt;ChaChaPoly|AESGCM&gt;_SHA256</c>.
/// Only X25519 and SHA256 are supported; anything else is rejected with <see cref="NoiseException"/>.
/// </summary>
internal sealed class NoiseProtocol
{
    private const string Prefix = "Noise";
    private const string DhName = "25519";
    private const string HashName = "SHA256";
    private const string ChaChaPolyName = "ChaChaPoly";
    private const string AesGcmName = "AESGCM";

    private readonly byte[] _nameBytes;

    private NoiseProtocol(string name, NoiseHandshakePattern pattern, NoiseCipher cipher)
    {
        Name = name;
        Pattern = pattern;
        Cipher = cipher;
        _nameBytes = Encoding.ASCII.GetBytes(name);
    }

    /// <summary>The full protocol name, e.g. <c>Noise_XXpsk3_25519_ChaChaPoly_SHA256</c>.</summary>
    public string Name { get; }

    /// <summary>The handshake pattern, modifiers applied.</summary>
    public NoiseHandshakePattern Pattern { get; }

    /// <summary>The AEAD cipher.</summary>
    public NoiseCipher Cipher { get; }

    /// <summary>The protocol name as ASCII bytes (input of InitializeSymmetric).</summary>
    public ReadOnlySpan<byte> NameBytes => _nameBytes;

    /// <summary>Parses and validates a full protocol name.</summary>
    /// <exception cref="NoiseException">The name is malformed or names an unsupported function or pattern.</exception>
    public static NoiseProtocol Parse(string protocolName)
    {
        ArgumentNullException.ThrowIfNull(protocolName);
        string[] parts = protocolName.Split('_');
        if (parts.Length != 5 || parts[0] != Prefix)
        {
            throw new NoiseException($"Malformed Noise protocol name '{protocolName}'.");
        }

        if (!protocolName.All(char.IsAscii) || protocolName.Length > 255)
        {
            throw new NoiseException($"Noise protocol name '{protocolName}' must be ASCII and at most 255 characters.");
        }

        if (parts[2] != DhName)
        {
            throw new NoiseException($"Unsupported Noise DH function '{parts[2]}' (only {DhName}).");
        }

        NoiseCipher cipher = parts[3] switch
        {
            ChaChaPolyName => NoiseCipher.ChaChaPoly,
            AesGcmName => NoiseCipher.AesGcm,
            _ => throw new NoiseException($"Unsupported Noise cipher '{parts[3]}' (only {ChaChaPolyName} or {AesGcmName})."),
        };

        if (parts[4] != HashName)
        {
            throw new NoiseException($"Unsupported Noise hash function '{parts[4]}' (only {HashName}).");
        }

        NoiseHandshakePattern pattern = NoiseHandshakePattern.Parse(parts[1]);
        return new NoiseProtocol(protocolName, pattern, cipher);
    }

    /// <summary>Builds the protocol for a pattern name (e.g. <c>IKpsk2</c>) and cipher, with 25519 and SHA256.</summary>
    public static NoiseProtocol Create(string patternName, NoiseCipher cipher)
    {
        ArgumentNullException.ThrowIfNull(patternName);
        string cipherName = cipher switch
        {
            NoiseCipher.ChaChaPoly => ChaChaPolyName,
            NoiseCipher.AesGcm => AesGcmName,
            _ => throw new NoiseException($"Unsupported Noise cipher '{cipher}'."),
        };
        return Parse($"{Prefix}_{patternName}_{DhName}_{cipherName}_{HashName}");
    }

    public override string ToString() => Name;
}
