namespace Messenger.Transport;

/// <summary>A configured seed endpoint: a DEALER that says HELLO to whatever node of the cluster listens there, to
/// learn its identity and its membership list. It stays for the node's lifetime and greets again whenever the node
/// it found is no longer in the peer table, so a seed that restarts is found again. When the node that answers is
/// new to this one and listens at the seed endpoint itself, its link takes over the greeted connection and its
/// session (one handshake instead of two), and the seed goes on with a fresh connection. A seed whose endpoint cannot
/// be connected to (a host name that does not resolve yet) has no connection until a later try succeeds.</summary>
internal sealed class SeedLink
{
    public SeedLink(string endpoint, string host)
    {
        Endpoint = endpoint;
        Host = host;
    }

    public string Endpoint { get; }
    public string Host { get; }

    /// <summary>The connection to the seed endpoint; null while it cannot be connected to.</summary>
    public DealerSession? Session { get; set; }

    /// <summary>When the node last tried to connect to the endpoint (Environment.TickCount64).</summary>
    public long ConnectAttemptAt { get; set; }

    /// <summary>Why the last try to connect failed; null once one succeeded.</summary>
    public string? ConnectFailure { get; set; }

    /// <summary>The node's ReceiveReady handler on <see cref="Session"/>'s DEALER (removed when a link takes it over).</summary>
    public EventHandler<NetMQ.NetMQSocketEventArgs>? ReadyHandler { get; set; }
    public string? AnsweredBy { get; set; }

    /// <summary>The code and reason of the seed's last REFUSE, since it last welcomed this node.</summary>
    public string? LastRefusal { get; set; }

    /// <summary>The node itself answers there (a StatefulSet's pods often share one seed list): not greeted again.</summary>
    public bool IsThisNode { get; set; }
    public TaskCompletionSource<string> Answered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
