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

    /// <summary>For a data connection: the <see cref="HandshakeHash"/> of the link session it belongs to, sent in
    /// message 3 (protocol 1: in HELLO) so that the responder knows which of its sessions acknowledges what arrives
    /// here. Null for a link's own connection.</summary>
    public byte[]? DataFor { get; init; }

    /// <summary>What names this session to the peer: the finished handshake's hash (protocol 2), or the session token
    /// of the HELLO (protocol 1); null before.</summary>
    public byte[]? HandshakeHash { get; private set; }

    /// <summary>The node whose static key the finished handshake proved (protocol 2); null before, and in protocol 1.</summary>
    public NodeId? ProvenId { get; set; }
    public FrameSealer? Sealer { get; private set; }
    public FrameOpener? Opener { get; private set; }
    public long LastHelloSent { get; set; } = long.MinValue / 2;

    /// <summary>The handshake finished on our side (secure mode), or there is none (insecure mode).</summary>
    public bool Established { get; private set; }

    /// <summary>The handshake is done: frames are sealed from now on with its keys under <paramref name="cipher"/>,
    /// the one both ends chose in it (none in insecure mode, where <paramref name="transport"/> is null and
    /// <paramref name="plainSession"/> is the HELLO's session token).</summary>
    public void Establish(NoiseTransport? transport, NoiseCipher cipher, byte[]? plainSession = null)
    {
        ClearCrypto();
        HandshakeHash = plainSession;
        if (transport is not null)
        {
            HandshakeHash = transport.HandshakeHash.ToArray();
            Sealer = FrameSealer.ForSession(transport.SendCipher, cipher);
            Opener = FrameOpener.ForSession(transport.ReceiveCipher, cipher);
        }
        Established = true;
    }

    /// <summary>Hands this connection and its established session over to a new session object that expects
    /// <paramref name="id"/> (the node the handshake proved), so that a later handshake on it must prove the same
    /// node. This object lets go of them: it must not be used or disposed afterwards.</summary>
    public DealerSession BindTo(NodeId id)
    {
        var bound = new DealerSession(Dealer, id)
        {
            LastHelloSent = LastHelloSent,
            ProvenId = ProvenId,
            HandshakeHash = HandshakeHash,
            Sealer = Sealer,
            Opener = Opener,
            Established = Established,
        };
        Sealer = null;
        Opener = null;
        Established = false;
        return bound;
    }

    /// <summary>Forgets the session: the next HELLO starts a new handshake.</summary>
    public void Reset()
    {
        ClearCrypto();
        ProvenId = null;
        Established = false;
    }

    private void ClearCrypto()
    {
        HandshakeHash = null;
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
