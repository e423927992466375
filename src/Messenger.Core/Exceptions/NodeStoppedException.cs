namespace Messenger;

/// <summary>The node is stopping or stopped and takes no more work.</summary>
public sealed class NodeStoppedException : MessengerException
{
    /// <summary>Creates the exception.</summary>
    public NodeStoppedException(string node)
        : base("NodeStopped", $"The node '{node}' is stopped.") => Node = node;

    /// <summary>The node's name.</summary>
    public string Node { get; }
}
