namespace Messenger;

/// <summary>The supervisor restarted a part of the node that failed.</summary>
public sealed class ActorRestartedEventArgs(string actor, string cause, long restarts) : EventArgs
{
    /// <summary>Which part: "unicast" (the ROUTER socket), "broadcast" (the PUB socket), "beacon", "node" (the
    /// node's own loop), "data" (the data receiver), or "link:&lt;peer&gt;" (the sockets to one peer).</summary>
    public string Actor { get; } = actor;

    /// <summary>What failed, in words.</summary>
    public string Cause { get; } = cause;

    /// <summary>Restarts of the node so far.</summary>
    public long Restarts { get; } = restarts;
}
