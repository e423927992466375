namespace Messenger;

/// <summary>A message that the node had to drop, and why.</summary>
public sealed class MessageDroppedEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    public MessageDroppedEventArgs(MessengerMessage? message, string peer, string reason)
    {
        Message = message;
        Peer = peer;
        Reason = reason;
    }

    /// <summary>The dropped message where it was decoded, else null.</summary>
    public MessengerMessage? Message { get; }

    /// <summary>The name of the peer it came from or was meant for.</summary>
    public string Peer { get; }

    /// <summary>Why: "receive queue full", "peer gone", ...</summary>
    public string Reason { get; }
}
