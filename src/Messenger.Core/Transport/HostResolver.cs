using System.Net;
using System.Net.Sockets;

namespace Messenger.Transport;

/// <summary>
/// Host names of peers and seeds, looked up off the node's poller thread. NetMQ looks a name up inside
/// <c>Connect</c>, synchronously: with a DNS server that does not answer, the poller would stop for the resolver's
/// timeout (seconds) at every try, and miss its heartbeats. Here a lookup runs on the thread pool; the poller waits
/// for it only briefly (enough for a resolver that answers), and otherwise goes on: the connection is tried again
/// later, as for any address that cannot be reached now, and finds the answer then. Answers are kept for a while,
/// failures for a shorter while. Only the poller's thread calls <see cref="TryResolve"/>.
/// </summary>
internal sealed class HostResolver
{
    /// <summary>How long a found address is used before the name is looked up again (for new connections only:
    /// ZeroMQ reconnects to the address it connected to).</summary>
    public const int FreshMilliseconds = 30_000;

    /// <summary>How long a failed lookup is the answer before the name is looked up again.</summary>
    public const int RetryMilliseconds = 2_000;

    /// <summary>How long the poller waits for a lookup it starts or finds under way.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromMilliseconds(50);

    private const int MaxEntries = 4096;

    private readonly Func<string, Task<IPAddress[]>> _lookup;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);

    public HostResolver(Func<string, Task<IPAddress[]>>? lookup = null) => _lookup = lookup ?? Dns.GetHostAddressesAsync;

    /// <summary>The IPv4 address to connect to for <paramref name="host"/> (an address literal is its own); null,
    /// with why in <paramref name="failure"/>, when there is none now: the lookup failed, or is still under way.</summary>
    public IPAddress? TryResolve(string host, long now, out string? failure)
    {
        failure = null;
        if (IPAddress.TryParse(host, out var literal)) return literal;
        if (!_entries.TryGetValue(host, out var entry) || Expired(entry, now))
        {
            if (_entries.Count >= MaxEntries) _entries.Clear();
            entry = new Entry(Start(host), now);
            _entries[host] = entry;
        }
        if (!Finished(entry.Lookup, Patience))
        {
            failure = $"the host '{host}' is still being looked up";
            return null;
        }
        if (Answer(entry.Lookup, out var why) is { } address) return address;
        failure = $"the host '{host}' does not resolve: {why}";
        return null;
    }

    private static bool Expired(Entry entry, long now) =>
        entry.Lookup.IsCompleted && now - entry.StartedAt >= (Answer(entry.Lookup, out _) is null ? RetryMilliseconds : FreshMilliseconds);

    /// <summary>A finished lookup's first IPv4 address, or null and why not.</summary>
    private static IPAddress? Answer(Task<IPAddress[]> lookup, out string? why)
    {
        why = null;
        if (lookup.IsCompletedSuccessfully)
        {
            var address = lookup.Result.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork);
            if (address is null) why = "it has no IPv4 address";
            return address;
        }
        why = lookup.Exception?.GetBaseException().Message ?? "the lookup was cancelled";
        return null;
    }

    private Task<IPAddress[]> Start(string host)
    {
        try
        {
            return _lookup(host);
        }
        catch (Exception e) when (e is SocketException or ArgumentException)
        {
            return Task.FromException<IPAddress[]>(e);
        }
    }

    /// <summary>Waits up to <paramref name="patience"/> for the lookup; true when it has finished, answered or not.</summary>
    private static bool Finished(Task lookup, TimeSpan patience)
    {
        try
        {
            return lookup.Wait(patience);
        }
        catch (AggregateException)
        {
            return true;
        }
    }

    private sealed record Entry(Task<IPAddress[]> Lookup, long StartedAt);
}
