using Messenger.Security;

namespace Messenger.Transport;

/// <summary>An inbound unicast connection (a peer's DEALER to our ROUTER, known by its routing id), bound to the
/// peer it proved to be, with the sealer and opener of its session (none in insecure mode).</summary>
internal sealed class RouterSession : IDisposable
{
    public RouterSession(byte[] routingId, PeerLink link, FrameSealer? sealer, FrameOpener? opener)
    {
        RoutingId = routingId;
        Link = link;
        Sealer = sealer;
        Opener = opener;
    }

    public byte[] RoutingId { get; }
    public PeerLink Link { get; }
    public FrameSealer? Sealer { get; }
    public FrameOpener? Opener { get; }

    public void Dispose()
    {
        Sealer?.Dispose();
        Opener?.Dispose();
    }
}
