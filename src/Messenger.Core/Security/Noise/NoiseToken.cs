namespace Messenger.Security.Noise;

/// <summary>A token in a Noise message pattern.</summary>
internal enum NoiseToken
{
    /// <summary>Ephemeral public key.</summary>
    E = 0,

    /// <summary>Static public key (encrypted once a key is set).</summary>
    S = 1,

    /// <summary>DH(initiator ephemeral, responder ephemeral).</summary>
    EE = 2,

    /// <summary>DH(initiator ephemeral, responder static).</summary>
    ES = 3,

    /// <summary>DH(initiator static, responder ephemeral).</summary>
    SE = 4,

    /// <summary>DH(initiator static, responder static).</summary>
    SS = 5,

    /// <summary>Pre-shared symmetric key (MixKeyAndHash).</summary>
    Psk = 6,
}
