namespace Messenger;

/// <summary>Counters of one node since it started. The same figures are published as
/// System.Diagnostics.Metrics instruments of the meter "Messenger".</summary>
public sealed record MessengerStatistics
{
    /// <summary>Messages accepted for sending (unicast and broadcast).</summary>
    public long MessagesSent { get; init; }

    /// <summary>Of <see cref="MessagesSent"/>, the unicast messages sealed and sent on their sender's thread, over
    /// the peer's data connection, because the link was idle (see <see cref="MessengerNodeOptions.DirectSends"/>).</summary>
    public long MessagesSentDirect { get; init; }

    /// <summary>Messages received from peers, including any dropped afterwards because the receive queue was full.</summary>
    public long MessagesReceived { get; init; }

    /// <summary>Messages dropped, for any reason.</summary>
    public long MessagesDropped { get; init; }

    /// <summary>Broadcasts from peers that were never delivered here: gaps in a peer's broadcast sequence numbers
    /// (published while our subscription was down, dropped by ZeroMQ while we lagged far behind, lost with the
    /// peer's failed publisher, or in a frame this node rejected). Not part of <see cref="MessagesDropped"/>: this node never had them.</summary>
    public long BroadcastsMissed { get; init; }

    /// <summary>Frames of messages put on the wire (DATA and BROADCAST, each a batch of messages); control frames
    /// (handshakes, heartbeats, acknowledgements) are not counted here.</summary>
    public long FramesSent { get; init; }

    /// <summary>Frames taken off the wire, control frames included.</summary>
    public long FramesReceived { get; init; }

    /// <summary>Bytes of frames put on the wire.</summary>
    public long BytesSent { get; init; }

    /// <summary>Bytes of frames taken off the wire.</summary>
    public long BytesReceived { get; init; }

    /// <summary>Frames dropped because they were malformed, of an unknown version, oversized, or from an unknown connection.</summary>
    public long FramesRejected { get; init; }

    /// <summary>Restarts of failed parts by the supervisor.</summary>
    public long Restarts { get; init; }

    /// <summary>Handshakes refused (wrong cluster, name in use, ...).</summary>
    public long HandshakesRefused { get; init; }
}
