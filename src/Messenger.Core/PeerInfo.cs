namespace Messenger;

/// <summary>A row of the peer table: what this node knows of one peer at one moment.</summary>
public sealed record PeerInfo
{
    /// <summary>The peer's name, unique in the cluster.</summary>
    public required string Name { get; init; }

    /// <summary>The peer's node id: 32 lowercase hexadecimal digits.</summary>
    public required string Id { get; init; }

    /// <summary>The host the peer was reached at.</summary>
    public required string Address { get; init; }

    /// <summary>The peer's unicast endpoint, tcp://host:port.</summary>
    public required string Endpoint { get; init; }

    /// <summary>The peer's broadcast endpoint, tcp://host:port.</summary>
    public required string PublishEndpoint { get; init; }

    /// <summary>Where the peer stands.</summary>
    public required PeerState State { get; init; }

    /// <summary>When anything last arrived from the peer.</summary>
    public required DateTimeOffset LastSeen { get; init; }

    /// <summary>The last measured heartbeat round-trip time; null before the first one.</summary>
    public TimeSpan? RoundTrip { get; init; }

    /// <summary>The AEAD sealing what this node sends the peer, chosen in their handshake (see
    /// <see cref="MessengerNodeOptions.Cipher"/>); null before the handshake, and for insecure nodes.</summary>
    public MessengerCipher? Cipher { get; init; }

    /// <summary>The largest message body the peer accepts (its <see cref="MessengerNodeOptions.MaxMessageSize"/>, told
    /// in its WELCOME); null before that. A larger send to it fails with MessageTooLarge.</summary>
    public int? MaxMessageSize { get; init; }

    /// <summary>How the peer was found: "beacon", "seed", "hello" (it connected to us) or "membership" (another peer named it).</summary>
    public required string DiscoveredBy { get; init; }
}
