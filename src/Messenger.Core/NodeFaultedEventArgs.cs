namespace Messenger;

/// <summary>The node failed beyond what its supervisor may repair, and stops.</summary>
public sealed class NodeFaultedEventArgs(string actor, string cause) : EventArgs
{
    /// <summary>The part whose failure escalated.</summary>
    public string Actor { get; } = actor;

    /// <summary>Why, in words: the last failure and the restart limit that was exceeded, or the health probe that
    /// went unanswered.</summary>
    public string Cause { get; } = cause;
}
