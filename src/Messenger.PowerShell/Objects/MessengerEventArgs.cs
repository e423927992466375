namespace Messenger.PowerShell;

/// <summary>Data of the PeerJoined, PeerUnreachable and PeerLeft events ($Event.SourceEventArgs).</summary>
public sealed class MessengerPeerEventArgs : EventArgs
{
    internal MessengerPeerEventArgs(string node, PeerEventArgs e)
    {
        Node = node;
        Peer = new MessengerPeerInfo(node, e.Peer);
        PreviousState = e.PreviousState;
        Reason = e.Reason;
    }

    /// <summary>The node of this session that saw the change.</summary>
    public string Node { get; }

    /// <summary>The peer as it is now.</summary>
    public MessengerPeerInfo Peer { get; }

    /// <summary>The peer's state before the change.</summary>
    public PeerState PreviousState { get; }

    /// <summary>Why it changed, in words: "handshake complete", "left", "heartbeat timeout", ...</summary>
    public string Reason { get; }
}

/// <summary>Data of the MessageReceived event ($Event.SourceEventArgs).</summary>
public sealed class MessengerMessageEventArgs : EventArgs
{
    internal MessengerMessageEventArgs(string node, MessengerReceivedMessage message)
    {
        Node = node;
        Message = message;
    }

    /// <summary>The node of this session that received the message.</summary>
    public string Node { get; }

    /// <summary>The message, as Receive-MessengerMessage would have output it.</summary>
    public MessengerReceivedMessage Message { get; }
}

/// <summary>Data of the MessageDropped event ($Event.SourceEventArgs).</summary>
public sealed class MessengerMessageDroppedEventArgs : EventArgs
{
    internal MessengerMessageDroppedEventArgs(string node, MessageDroppedEventArgs e)
    {
        Node = node;
        Peer = e.Peer;
        Reason = e.Reason;
        Count = e.Count;
        Message = e.Message is null ? null : new MessengerReceivedMessage(e.Message);
    }

    /// <summary>The node of this session that dropped the message.</summary>
    public string Node { get; }

    /// <summary>The name of the peer the message came from or was meant for.</summary>
    public string Peer { get; }

    /// <summary>Why: "receive queue full", "... queued messages dropped: peer gone (...)", "... broadcasts missed: ...".</summary>
    public string Reason { get; }

    /// <summary>How many messages the event reports: 1 for a message dropped from the receive queue, more for a
    /// peer's queue dropped when it went away or for broadcasts that never reached the node.</summary>
    public long Count { get; }

    /// <summary>The dropped message where it had been decoded, else null.</summary>
    public MessengerReceivedMessage? Message { get; }
}

/// <summary>Data of the ActorRestarted event ($Event.SourceEventArgs).</summary>
public sealed class MessengerActorRestartedEventArgs : EventArgs
{
    internal MessengerActorRestartedEventArgs(string node, ActorRestartedEventArgs e)
    {
        Node = node;
        Actor = e.Actor;
        Cause = e.Cause;
        Restarts = e.Restarts;
    }

    /// <summary>The node of this session whose part was restarted.</summary>
    public string Node { get; }

    /// <summary>Which part: unicast, broadcast, beacon, node, or link:&lt;peer&gt;.</summary>
    public string Actor { get; }

    /// <summary>What failed, in words.</summary>
    public string Cause { get; }

    /// <summary>Restarts of the node so far.</summary>
    public long Restarts { get; }
}

/// <summary>Data of the Faulted event ($Event.SourceEventArgs).</summary>
public sealed class MessengerNodeFaultedEventArgs : EventArgs
{
    internal MessengerNodeFaultedEventArgs(string node, NodeFaultedEventArgs e)
    {
        Node = node;
        Actor = e.Actor;
        Cause = e.Cause;
    }

    /// <summary>The node of this session that faulted.</summary>
    public string Node { get; }

    /// <summary>The part whose failure escalated.</summary>
    public string Actor { get; }

    /// <summary>Why, in words.</summary>
    public string Cause { get; }
}
