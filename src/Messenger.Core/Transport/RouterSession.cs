using Messenger.Security;

namespace Messenger.Transport;

/// <summary>An inbound unicast connection (a peer's DEALER to our ROUTER, known by its routing id), bound to the
/// peer it proved to be, with the sealer and opener of its session (none in insecure mode).</summary>
internal sealed class RouterSession : IDisposable
{
    public RouterSession(byte[] routingId, PeerLink link, FrameSealer? sealer, FrameOpener? opener, byte[]? handshakeHash = null, RouterSession? acknowledgedOn = null)
    {
        RoutingId = routingId;
        Link = link;
        Sealer = sealer;
        Opener = opener;
        HandshakeHash = handshakeHash;
        AcknowledgedOn = acknowledgedOn;
    }

    public byte[] RoutingId { get; }
    public PeerLink Link { get; }
    public FrameSealer? Sealer { get; }
    public FrameOpener? Opener { get; }

    /// <summary>The hash of the handshake that opened it (protocol 2): how a data connection names its link session.</summary>
    public byte[]? HandshakeHash { get; }

    /// <summary>For a data connection (the peer sends DATA on it and reads nothing from it): the peer's link session,
    /// on which its DATA is acknowledged. Null for a link's own connection.</summary>
    public RouterSession? AcknowledgedOn { get; }

    public bool IsData => AcknowledgedOn is not null;

    public void Dispose()
    {
        Sealer?.Dispose();
        Opener?.Dispose();
    }
}
