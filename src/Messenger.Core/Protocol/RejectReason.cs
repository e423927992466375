namespace Messenger.Protocol;

/// <summary>Why a received frame was dropped. The cheap structural checks of the inbound path return one of these
/// instead of throwing, so that a stranger's junk costs no exception and no string; each value is the <c>reason</c>
/// tag of <c>messenger.frames.rejected</c> (see <see cref="RejectReasons.Tag"/> and docs/PROTOCOL.md).</summary>
internal enum RejectReason : byte
{
    /// <summary>Not rejected.</summary>
    None,

    /// <summary>Shorter than the 3-byte header.</summary>
    Truncated,

    /// <summary>The first byte is not the magic 'M'.</summary>
    BadMagic,

    /// <summary>A protocol version this node does not speak on that socket.</summary>
    BadVersion,

    /// <summary>A type byte that the protocol does not define (for that version).</summary>
    UnknownType,

    /// <summary>A defined type that is never sent to the socket it arrived on.</summary>
    WrongSocket,

    /// <summary>A multipart ZeroMQ message (every Messenger message is one frame).</summary>
    Multipart,

    /// <summary>A sealed (or protocol 1) frame from a connection that has no session: answered RESET, at most once
    /// per connection and second.</summary>
    NoSession,

    /// <summary>Handshake message 3 from a connection with no handshake under way.</summary>
    NoHandshake,

    /// <summary>A HELLO whose cluster name or Noise message is malformed.</summary>
    MalformedHello,

    /// <summary>A HELLO whose Noise message 1 does not verify.</summary>
    BadHandshake,

    /// <summary>A sealed frame of an established session that failed to open (bad tag, replay): the session ends.</summary>
    Authentication,

    /// <summary>A record whose sequence number was already delivered.</summary>
    Duplicate,

    /// <summary>Passed the structural checks but failed the full validation of its fields (log event 1300 tells
    /// which).</summary>
    Invalid,

    /// <summary>DATA on a data connection whose first new record is not the next of its sender's stream: frames
    /// before it were lost on the way (a TCP connection that broke and was connected again). The data connection's
    /// session ends, and its sender sends again what was not acknowledged.</summary>
    Gap,

    /// <summary>A UDP datagram on the beacon port that is not a whole, valid beacon: another program's, or a
    /// truncated or malformed announcement.</summary>
    BadBeacon,
}
