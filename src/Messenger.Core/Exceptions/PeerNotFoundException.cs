namespace Messenger;

/// <summary>A send named a peer that is not in the peer table.</summary>
public sealed class PeerNotFoundException : MessengerException
{
    /// <summary>Creates the exception.</summary>
    public PeerNotFoundException(string peer)
        : base("PeerNotFound", $"No peer named '{peer}' is known to this node. Get-MessengerPeer (or MessengerNode.GetPeers) lists the known ones.")
        => Peer = peer;

    /// <summary>The name that was not found.</summary>
    public string Peer { get; }
}
