namespace Messenger.Transport;

/// <summary>Where a link's data connection is in its life.</summary>
internal enum DataConnectionState
{
    /// <summary>Shaking hands, in the poller; DATA still goes on the link's own connection.</summary>
    Handshaking,

    /// <summary>Welcomed, and out of the poller; waits until nothing sent on the link's own connection is
    /// unacknowledged, so that no frame can overtake an earlier one on the way.</summary>
    Draining,

    /// <summary>Carries every DATA frame of the link; senders on any thread may use it under <see cref="DataConnection.Gate"/>.</summary>
    Ready,
}
