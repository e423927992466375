namespace Messenger;

/// <summary>A change of a peer's state: it joined, became unreachable, or left.</summary>
public sealed class PeerEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    public PeerEventArgs(PeerInfo peer, PeerState previousState, string reason)
    {
        Peer = peer;
        PreviousState = previousState;
        Reason = reason;
    }

    /// <summary>The peer as it is now.</summary>
    public PeerInfo Peer { get; }

    /// <summary>The state it had before.</summary>
    public PeerState PreviousState { get; }

    /// <summary>Why it changed, in words: "handshake complete", "left", "heartbeat timeout", ...</summary>
    public string Reason { get; }
}
