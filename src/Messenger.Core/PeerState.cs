namespace Messenger;

/// <summary>Where a peer stands, as this node sees it.</summary>
public enum PeerState
{
    /// <summary>Found, but not yet proven to work both ways.</summary>
    Joining,

    /// <summary>Unicast and broadcast work in both directions: a broadcast sent now reaches it.</summary>
    Connected,

    /// <summary>Nothing arrived from it for longer than the peer timeout.</summary>
    Unreachable,

    /// <summary>It left, or stayed unreachable too long; it is no longer in the peer table.</summary>
    Gone,
}
