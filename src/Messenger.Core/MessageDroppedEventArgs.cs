namespace Messenger;

/// <summary>A message that the node had to drop, and why.</summary>
public sealed class MessageDroppedEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    public MessageDroppedEventArgs(MessengerMessage? message, string peer, string reason)
        : this(message, peer, reason, 1)
    {
    }

    /// <summary>Creates the event data for <paramref name="count"/> messages dropped or missed at once.</summary>
    public MessageDroppedEventArgs(MessengerMessage? message, string peer, string reason, long count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        Message = message;
        Peer = peer;
        Reason = reason;
        Count = count;
    }

    /// <summary>How many messages this event reports: 1 for a message dropped from the receive queue; more for a
    /// peer's queue dropped when it went away (or this node stopped), for the broadcasts held back when this node
    /// stopped, for broadcasts of a peer never delivered here (gaps in its sequence), or for single drops summed
    /// because they came faster than the handlers took them.</summary>
    public long Count { get; }

    /// <summary>The dropped message where it was decoded, else null.</summary>
    public MessengerMessage? Message { get; }

    /// <summary>The name of the peer it came from or was meant for; "*" for broadcasts this node dropped when it
    /// stopped before publishing them.</summary>
    public string Peer { get; }

    /// <summary>Why: "receive queue full", "... queued messages dropped: peer gone (...)", "... queued messages dropped:
    /// broadcasts not published before this node stopped", "... broadcasts missed: ...".</summary>
    public string Reason { get; }
}
