namespace Messenger.PowerShell;

/// <summary>A row of a node's peer table, as Get-MessengerPeer, Wait-MessengerPeer and Connect-MessengerPeer
/// output it: what the node <see cref="Node"/> knew of one peer at one moment.</summary>
public sealed class MessengerPeerInfo
{
    internal MessengerPeerInfo(string node, PeerInfo peer)
    {
        Node = node;
        Name = peer.Name;
        Id = peer.Id;
        Address = peer.Address;
        Endpoint = peer.Endpoint;
        PublishEndpoint = peer.PublishEndpoint;
        State = peer.State;
        LastSeen = peer.LastSeen;
        RoundTrip = peer.RoundTrip;
        DiscoveredBy = peer.DiscoveredBy;
        Cipher = peer.Cipher;
        MaxMessageSize = peer.MaxMessageSize;
    }

    /// <summary>The name of the node of this session whose peer table this row comes from.</summary>
    public string Node { get; }

    /// <summary>The peer's name, unique in the cluster.</summary>
    public string Name { get; }

    /// <summary>The peer's node id: 32 lowercase hexadecimal digits.</summary>
    public string Id { get; }

    /// <summary>The host the peer was reached at.</summary>
    public string Address { get; }

    /// <summary>The peer's unicast endpoint, tcp://host:port.</summary>
    public string Endpoint { get; }

    /// <summary>The peer's broadcast endpoint, tcp://host:port.</summary>
    public string PublishEndpoint { get; }

    /// <summary>Joining, Connected, Unreachable or Gone.</summary>
    public PeerState State { get; }

    /// <summary>When anything last arrived from the peer.</summary>
    public DateTimeOffset LastSeen { get; }

    /// <summary>The last measured heartbeat round-trip time; null before the first one.</summary>
    public TimeSpan? RoundTrip { get; }

    /// <summary>How the peer was found: beacon, seed, hello or membership.</summary>
    public string DiscoveredBy { get; }

    /// <summary>The AEAD sealing what the node sends the peer (Aes256Gcm or ChaCha20Poly1305); null before the
    /// handshake, and for insecure nodes.</summary>
    public MessengerCipher? Cipher { get; }

    /// <summary>The largest message body the peer accepts (its -MaxMessageSize); null until it has welcomed the
    /// node. A larger send to it is reported as MessageTooLarge.</summary>
    public int? MaxMessageSize { get; }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
