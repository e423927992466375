namespace Messenger;

/// <summary>A wait for peers ran out of time; <see cref="Missing"/> says who was not connected.</summary>
public sealed class PeerWaitTimeoutException : MessengerException
{
    /// <summary>Creates the exception.</summary>
    public PeerWaitTimeoutException(TimeSpan timeout, IReadOnlyList<string> missing, int connected, int wanted)
        : this(timeout, missing, connected, wanted, reason: null)
    {
    }

    /// <summary>Creates the exception, with why the node could not reach those missing when it knows (say, the host
    /// name of an endpoint does not resolve).</summary>
    public PeerWaitTimeoutException(TimeSpan timeout, IReadOnlyList<string> missing, int connected, int wanted, string? reason)
        : base("PeerWaitTimeout", (missing.Count > 0
            ? $"Timed out after {timeout.TotalSeconds:0.###} s waiting for peers; not connected: {string.Join(", ", missing)}"
            : $"Timed out after {timeout.TotalSeconds:0.###} s waiting for {wanted} connected peers; {connected} connected")
            + (reason is null ? "." : $" ({reason})."))
    {
        Timeout = timeout;
        Missing = missing;
        Connected = connected;
        Wanted = wanted;
        Reason = reason;
    }

    /// <summary>How long the wait lasted.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>The names waited for that were not connected (empty for a wait by count).</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>How many peers were connected when the wait ended.</summary>
    public int Connected { get; }

    /// <summary>How many were wanted.</summary>
    public int Wanted { get; }

    /// <summary>Why the node could not reach the missing, when it knows: for <see cref="MessengerNode.ConnectAsync"/>,
    /// why the endpoint cannot be connected to (its host name does not resolve, say); else null.</summary>
    public string? Reason { get; }
}
