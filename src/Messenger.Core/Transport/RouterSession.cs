using Messenger.Security;

namespace Messenger.Transport;

/// <summary>An inbound unicast connection (a peer's DEALER to our ROUTER, known by its routing id), bound to the
/// peer it proved to be, with the sealer and opener of its session (none in insecure mode). A data connection's is
/// opened on by the data receiver's thread and disposed of by the poller's, hence <see cref="TryOpenInPlace"/>.</summary>
internal sealed class RouterSession : IDisposable
{
    private readonly Lock _gate = new();
    private bool _disposed;

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

    /// <summary>The hash of the handshake that opened it (protocol 2), or its HELLO's session token (protocol 1): how
    /// a data connection names its link session.</summary>
    public byte[]? HandshakeHash { get; }

    /// <summary>For a data connection (the peer sends DATA on it and reads nothing from it): the peer's link session,
    /// on which its DATA is acknowledged. Null for a link's own connection.</summary>
    public RouterSession? AcknowledgedOn { get; }

    public bool IsData => AcknowledgedOn is not null;

    /// <summary>The session has ended (any thread).</summary>
    public bool IsDisposed
    {
        get
        {
            lock (_gate) return _disposed;
        }
    }

    /// <summary>A data connection that has moved to the data receiver's port (poller thread).</summary>
    public bool OnDataReceiver { get; set; }

    /// <summary>Opens a sealed frame with the session's opener; false when it does not open, or the session has
    /// ended.</summary>
    public bool TryOpenInPlace(ArraySegment<byte> frame, int prefixLength, out ArraySegment<byte> inner)
    {
        lock (_gate)
        {
            inner = default;
            return !_disposed && Opener is { } opener && opener.TryOpenInPlace(frame, prefixLength, out inner);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            Sealer?.Dispose();
            Opener?.Dispose();
        }
    }
}
