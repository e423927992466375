using System.Security.Cryptography;
using Messenger.Security;
using Messenger.Security.Noise;

namespace Messenger;

/// <summary>
/// A node's long-term identity: a Curve25519 key pair. The node id is derived from the public key, so a name is
/// bound to a key. The private key never leaves this object except into a key file readable by its owner alone.
/// </summary>
public sealed class MessengerKeyPair
{
    private readonly byte[] _privateKey;

    private MessengerKeyPair(byte[] privateKey)
    {
        _privateKey = privateKey;
        using var pair = NoiseKeyPair.FromPrivateKey(privateKey);
        PublicKeyBytes = pair.PublicKey.ToArray();
        PublicKey = Convert.ToBase64String(PublicKeyBytes);
    }

    /// <summary>The public key in base64: what an allowlist (AllowedKeys) lists.</summary>
    public string PublicKey { get; }

    internal byte[] PublicKeyBytes { get; }

    internal ReadOnlySpan<byte> PrivateKey => _privateKey;

    /// <summary>A new random key pair.</summary>
    public static MessengerKeyPair Generate() => new(RandomNumberGenerator.GetBytes(32));

    /// <summary>Reads a key file written by <see cref="Save"/>.</summary>
    /// <exception cref="MessengerConfigurationException">The file is missing, unreadable or not a key.</exception>
    public static MessengerKeyPair Load(string path) => new(KeyFile.Read(path, 32, "KeyPath"));

    /// <summary>Reads the key file, or creates it (mode 0600) with a new key pair when there is none.</summary>
    public static MessengerKeyPair LoadOrCreate(string path)
    {
        if (!File.Exists(path))
        {
            var created = Generate();
            if (KeyFile.TryCreate(path, created._privateKey, "KeyPath")) return created;
        }
        return Load(path);
    }

    /// <summary>Writes the private key to a new file readable by its owner alone (mode 0600).</summary>
    /// <exception cref="MessengerConfigurationException">The file exists or cannot be written.</exception>
    public void Save(string path)
    {
        if (!KeyFile.TryCreate(path, _privateKey, "KeyPath")) throw new MessengerConfigurationException("KeyPath", $"the key file '{path}' exists already.");
    }

    /// <summary>The derived node id (32 hex digits).</summary>
    public string NodeId => Protocol.NodeId.FromPublicKey(PublicKeyBytes).ToString();

    /// <inheritdoc/>
    public override string ToString() => $"MessengerKeyPair {PublicKey}";
}
