using Messenger.Protocol;
using Messenger.Security;
using Messenger.Security.Noise;
using NetMQ.Sockets;

namespace Messenger.Transport;

/// <summary>
/// An outbound unicast connection (our DEALER to a node's ROUTER) and its security session: the handshake while it
/// is under way, then the sealer and opener of its frames. Nothing but the handshake goes out before it completes.
/// </summary>
internal sealed class DealerSession : IDisposable
{
    public DealerSession(DealerSocket dealer, NodeId? expectedId)
    {
        Dealer = dealer;
        ExpectedId = expectedId;
    }

    public DealerSocket Dealer { get; }

    /// <summary>The id the node at the other end must prove; null for a seed, which may be anyone in the cluster.</summary>
    public NodeId? ExpectedId { get; }

    public NoiseHandshakeState? Handshake { get; set; }
    public FrameSealer? Sealer { get; private set; }
    public FrameOpener? Opener { get; private set; }
    public long LastHelloSent { get; set; } = long.MinValue / 2;

    /// <summary>The handshake finished on our side (secure mode), or there is none (insecure mode).</summary>
    public bool Established { get; private set; }

    public void Establish(NoiseTransport? transport)
    {
        ClearCrypto();
        if (transport is not null)
        {
            Sealer = new FrameSealer(transport.SendCipher);
            Opener = new FrameOpener(transport.ReceiveCipher);
        }
        Established = true;
    }

    /// <summary>Forgets the session: the next HELLO starts a new handshake.</summary>
    public void Reset()
    {
        ClearCrypto();
        Established = false;
    }

    private void ClearCrypto()
    {
        Handshake?.Dispose();
        Handshake = null;
        Sealer?.Dispose();
        Sealer = null;
        Opener?.Dispose();
        Opener = null;
    }

    public void Dispose()
    {
        ClearCrypto();
        Dealer.Dispose();
    }
}
