using NetMQ.Sockets;

namespace Messenger.Transport;

/// <summary>A configured seed endpoint: a DEALER that says HELLO to whatever node listens there, to learn its
/// identity and its membership list. It stays for the node's lifetime, so a seed that restarts is found again.</summary>
internal sealed class SeedLink
{
    public SeedLink(string endpoint, string host, DealerSocket dealer)
    {
        Endpoint = endpoint;
        Host = host;
        Dealer = dealer;
    }

    public string Endpoint { get; }
    public string Host { get; }
    public DealerSocket Dealer { get; }
    public long LastHelloSent { get; set; } = long.MinValue / 2;
    public string? AnsweredBy { get; set; }
    public TaskCompletionSource<string> Answered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
