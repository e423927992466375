using System.Security.Cryptography;
using Messenger.Protocol;
using Messenger.Security.Noise;

namespace Messenger.Security;

/// <summary>What a node proves itself with and whom it admits: its static key pair, the pre-shared key, the
/// allowlist, and its own broadcast key. Built once at start from the options; a bad setting fails the start.</summary>
internal sealed class SecurityContext : IDisposable
{
    private readonly HashSet<string>? _allowed;

    private SecurityContext(MessengerKeyPair keyPair, byte[] psk, HashSet<string>? allowed, string cluster, bool insecure, string membership, NoiseCipher cipher)
    {
        Cipher = cipher;
        KeyPair = keyPair;
        Static = NoiseKeyPair.FromPrivateKey(keyPair.PrivateKey);
        Id = NodeId.FromPublicKey(keyPair.PublicKeyBytes);
        Psk = psk;
        _allowed = allowed;
        Prologue = MessengerHandshake.Prologue(cluster);
        Insecure = insecure;
        Membership = membership;
        BroadcastKey = RandomNumberGenerator.GetBytes(32);
        BroadcastSealer = FrameSealer.FromKey(cipher, BroadcastKey);
    }

    public MessengerKeyPair KeyPair { get; }
    public NoiseKeyPair Static { get; }
    public NodeId Id { get; }
    public byte[] Psk { get; }
    public byte[] Prologue { get; }
    public bool Insecure { get; }

    /// <summary>How members are admitted, in words for logs and Get-MessengerNode: never the key itself.</summary>
    public string Membership { get; }

    /// <summary>This node's broadcast key, given to each peer inside its authenticated session.</summary>
    public byte[] BroadcastKey { get; }

    public FrameSealer BroadcastSealer { get; }

    /// <summary>This node's preferred data cipher (see <see cref="DataCipher"/>), which also seals its broadcasts.</summary>
    public NoiseCipher Cipher { get; }

    /// <summary>The key files this node read that others than their owner may read, for the node to warn of.</summary>
    public IReadOnlyList<string> ExposedKeyFiles { get; private init; } = [];

    public static SecurityContext Create(MessengerNodeOptions o)
    {
        var exposed = new List<string>();
        var keyPath = o.KeyPath ?? Path.Combine(KeyFile.Home, "keys", o.Cluster, o.Name + ".key");
        var keyPair = o.KeyPair ?? MessengerKeyPair.LoadOrCreate(keyPath);
        if (o.KeyPair is null && KeyFile.ReadableByOthers(keyPath)) exposed.Add(keyPath);
        HashSet<string>? allowed = null;
        if (o.AllowedKeys.Count > 0)
        {
            allowed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var key in o.AllowedKeys) allowed.Add(NormalizePublicKey(key));
        }

        ClusterKey? clusterKey = o.ClusterKey;
        if (clusterKey is null && !o.Insecure && (o.ClusterKeyPath is not null || allowed is null))
        {
            var clusterKeyPath = o.ClusterKeyPath ?? Path.Combine(KeyFile.Home, "cluster.key");
            clusterKey = ClusterKey.LoadOrCreate(clusterKeyPath);
            if (KeyFile.ReadableByOthers(clusterKeyPath)) exposed.Add(clusterKeyPath);
        }

        var membership = (clusterKey, allowed) switch
        {
            (not null, not null) => $"cluster key {clusterKey.Fingerprint} and an allowlist of {allowed.Count} keys",
            (not null, null) => $"cluster key {clusterKey.Fingerprint}",
            (null, not null) => $"allowlist of {allowed.Count} keys",
            _ => "none",
        };
        if (o.Insecure) membership = "none: INSECURE, plaintext and unauthenticated";
        return new SecurityContext(keyPair, clusterKey?.Bytes ?? MessengerHandshake.AllowlistOnlyPsk, allowed, o.Cluster, o.Insecure, membership, DataCipher.Resolve(o.Cipher))
        {
            ExposedKeyFiles = exposed,
        };
    }

    public bool IsAllowed(ReadOnlySpan<byte> publicKey) => _allowed is null || _allowed.Contains(Convert.ToBase64String(publicKey));

    public NoiseHandshakeState NewInitiator() => NoiseHandshakeState.Initialize(MessengerHandshake.Protocol, true, Prologue, s: Static, psks: [Psk]);

    public NoiseHandshakeState NewResponder() => NoiseHandshakeState.Initialize(MessengerHandshake.Protocol, false, Prologue, s: Static, psks: [Psk]);

    /// <summary>Checks an allowlist entry: base64 of a 32-byte public key.</summary>
    public static string NormalizePublicKey(string key)
    {
        if (key is null) throw new MessengerConfigurationException("AllowedKeys", "holds a null entry; each entry is a base64 public key of 32 bytes.");
        try
        {
            var bytes = Convert.FromBase64String(key.Trim());
            if (bytes.Length == 32) return Convert.ToBase64String(bytes);
        }
        catch (FormatException)
        {
            // reported below
        }
        throw new MessengerConfigurationException("AllowedKeys", $"'{(key.Length > 60 ? key[..60] + "..." : key)}' is not a base64 public key of 32 bytes.");
    }

    public void Dispose()
    {
        Static.Dispose();
        BroadcastSealer.Dispose();
    }
}
