using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Messenger.Transport;

/// <summary>
/// Host names of peers and seeds, looked up off the node's poller thread. NetMQ looks a name up inside
/// <c>Connect</c>, synchronously: with a DNS server that does not answer, the poller would stop for the resolver's
/// timeout (seconds) at every try, and miss its heartbeats. Here a lookup runs on the thread pool. The poller waits
/// for a lookup it starts only briefly (enough for a resolver that answers), and for all lookups together at most
/// <see cref="PatiencePerSecond"/> a second; otherwise it goes on, and the connection is tried again later, as for
/// any address that cannot be reached now, and finds the answer then. An answer is used for new connections while
/// fresh, and after that too while a new lookup runs (a slow resolver does not take a known address away); a failure
/// is the answer for a shorter while. Only the poller's thread calls <see cref="TryResolve"/>.
/// </summary>
internal sealed class HostResolver
{
    /// <summary>How long a found address is used before the name is looked up again (for new connections only:
    /// ZeroMQ reconnects to the address it connected to).</summary>
    public const int FreshMilliseconds = 30_000;

    /// <summary>How long a failed lookup is the answer before the name is looked up again.</summary>
    public const int RetryMilliseconds = 2_000;

    /// <summary>How long the poller waits for a lookup it has just started.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromMilliseconds(50);

    /// <summary>How long the poller waits for lookups in all, in any second.</summary>
    public const int PatiencePerSecond = 100;

    private const int MaxEntries = 4096;

    private readonly Func<string, Task<IPAddress[]>> _lookup;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);
    private long _budgetSecond;
    private long _waitedThisSecond;

    public HostResolver(Func<string, Task<IPAddress[]>>? lookup = null) => _lookup = lookup ?? Dns.GetHostAddressesAsync;

    /// <summary>The IPv4 address to connect to for <paramref name="host"/> (an address literal is its own); null,
    /// with why in <paramref name="failure"/>, when there is none now: the lookup failed, or is still under way.</summary>
    public IPAddress? TryResolve(string host, long now, out string? failure)
    {
        failure = null;
        if (IPAddress.TryParse(host, out var literal)) return literal;
        _entries.TryGetValue(host, out var entry);
        if (entry is null || Expired(entry, now))
        {
            if (_entries.Count >= MaxEntries) _entries.Clear();
            // A known address stays the answer while its name is looked up again.
            var known = entry is not null && entry.Lookup.IsCompleted ? Answer(entry.Lookup, out _) ?? entry.Known : entry?.Known;
            entry = new Entry(Start(host), now) { Known = known };
            _entries[host] = entry;
            Wait(entry.Lookup, now);
        }
        if (!entry.Lookup.IsCompleted)
        {
            if (entry.Known is { } stale) return stale;
            failure = $"the host '{host}' is still being looked up";
            return null;
        }
        if (Answer(entry.Lookup, out var why) is { } address) return address;
        failure = $"the host '{host}' does not resolve: {why}";
        return null;
    }

    private static bool Expired(Entry entry, long now) =>
        entry.Lookup.IsCompleted && now - entry.StartedAt >= (Answer(entry.Lookup, out _) is null ? RetryMilliseconds : FreshMilliseconds);

    /// <summary>Waits for a lookup just started, up to <see cref="Patience"/> and what is left of this second's
    /// <see cref="PatiencePerSecond"/>.</summary>
    private void Wait(Task lookup, long now)
    {
        if (lookup.IsCompleted) return;
        if (now / 1000 != _budgetSecond)
        {
            _budgetSecond = now / 1000;
            _waitedThisSecond = 0;
        }
        var budget = Math.Min((long)Patience.TotalMilliseconds, PatiencePerSecond - _waitedThisSecond);
        if (budget <= 0) return;
        var clock = Stopwatch.StartNew();
        try
        {
            lookup.Wait(TimeSpan.FromMilliseconds(budget));
        }
        catch (AggregateException)
        {
            // Failed: read below.
        }
        _waitedThisSecond += clock.ElapsedMilliseconds;
    }

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

    /// <summary>A lookup, and the address known from an earlier one of the same name.</summary>
    private sealed record Entry(Task<IPAddress[]> Lookup, long StartedAt)
    {
        public IPAddress? Known { get; init; }
    }
}
