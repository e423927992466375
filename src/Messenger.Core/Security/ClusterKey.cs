using System.Security.Cryptography;
using Messenger.Security;

namespace Messenger;

/// <summary>
/// The secret that every member of a cluster holds (like Erlang's cookie, but never sent on the wire): 32 random
/// bytes mixed into every handshake as the Noise pre-shared key. Its text form is base64; <see cref="ToString"/>
/// shows only a fingerprint.
/// </summary>
public sealed class ClusterKey
{
    private readonly byte[] _key;

    private ClusterKey(byte[] key) => _key = key;

    internal byte[] Bytes => _key;

    /// <summary>The first 8 bytes of the key's SHA-256, in hex: safe to show, enough to compare two keys.</summary>
    public string Fingerprint => Convert.ToHexStringLower(SHA256.HashData(_key).AsSpan(0, 8));

    /// <summary>A new random key.</summary>
    public static ClusterKey Generate() => new(RandomNumberGenerator.GetBytes(32));

    /// <summary>A key from its base64 text form.</summary>
    /// <exception cref="MessengerConfigurationException">The text is not base64 of 32 bytes.</exception>
    public static ClusterKey FromBase64(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            var bytes = Convert.FromBase64String(text.Trim());
            return bytes.Length == 32 ? new ClusterKey(bytes) : throw new MessengerConfigurationException("ClusterKey", $"a cluster key has 32 bytes, this one {bytes.Length}.");
        }
        catch (FormatException e)
        {
            throw new MessengerConfigurationException("ClusterKey", "the cluster key is not base64.", e);
        }
    }

    /// <summary>Reads a key file.</summary>
    public static ClusterKey Load(string path) => new(KeyFile.Read(path, 32, "ClusterKeyPath"));

    /// <summary>Reads the key file, or creates it (mode 0600) with a new key when there is none.</summary>
    public static ClusterKey LoadOrCreate(string path)
    {
        if (!File.Exists(path))
        {
            var created = Generate();
            if (KeyFile.TryCreate(path, created._key, "ClusterKeyPath")) return created;
        }
        return Load(path);
    }

    /// <summary>Writes the key to a new file readable by its owner alone (mode 0600).</summary>
    public void Save(string path)
    {
        if (!KeyFile.TryCreate(path, _key, "ClusterKeyPath")) throw new MessengerConfigurationException("ClusterKeyPath", $"the key file '{path}' exists already.");
    }

    /// <summary>The key as base64 text, to copy to other machines. Treat it as a password.</summary>
    public string ToBase64() => Convert.ToBase64String(_key);

    /// <inheritdoc/>
    public override string ToString() => $"ClusterKey {Fingerprint}";
}
