namespace Messenger;

/// <summary>What a node does with a message that arrives while its receive queue is full.</summary>
public enum ReceiveFullMode
{
    /// <summary>The arriving message is dropped.</summary>
    DropNewest,

    /// <summary>The oldest waiting message is dropped to make room.</summary>
    DropOldest,
}
