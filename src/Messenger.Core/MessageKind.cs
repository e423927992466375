namespace Messenger;

/// <summary>How a message travelled.</summary>
public enum MessageKind
{
    /// <summary>Sent to one node.</summary>
    Unicast = 1,

    /// <summary>Sent to every connected node.</summary>
    Broadcast = 2,
}
