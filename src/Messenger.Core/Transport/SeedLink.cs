namespace Messenger.Transport;

/// <summary>A configured seed endpoint: a DEALER that says HELLO to whatever node of the cluster listens there, to
/// learn its identity and its membership list. It stays for the node's lifetime and greets again whenever the node
/// it found is no longer in the peer table, so a seed that restarts is found again.</summary>
internal sealed class SeedLink
{
    public SeedLink(string endpoint, string host, DealerSession session)
    {
        Endpoint = endpoint;
        Host = host;
        Session = session;
    }

    public string Endpoint { get; }
    public string Host { get; }
    public DealerSession Session { get; }
    public string? AnsweredBy { get; set; }
    public TaskCompletionSource<string> Answered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
