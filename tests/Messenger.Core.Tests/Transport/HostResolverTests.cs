using System.Net;
using System.Net.Sockets;
using Messenger.Transport;

namespace Messenger.Tests.Transport;

/// <summary>Host names are looked up on the thread pool; the poller never waits longer than a moment for one.</summary>
public sealed class HostResolverTests
{
    private readonly Dictionary<string, TaskCompletionSource<IPAddress[]>> _pending = [];
    private readonly List<string> _asked = [];

    private HostResolver NewResolver() => new(host =>
    {
        _asked.Add(host);
        var answer = new TaskCompletionSource<IPAddress[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[host] = answer;
        return answer.Task;
    });

    [Fact]
    public void An_address_literal_is_its_own_answer_without_a_lookup()
    {
        var resolver = NewResolver();
        Assert.Equal(IPAddress.Parse("10.1.2.3"), resolver.TryResolve("10.1.2.3", 0, out var failure));
        Assert.Null(failure);
        Assert.Empty(_asked);
    }

    [Fact]
    public void A_lookup_that_does_not_answer_at_once_is_not_waited_for_and_its_answer_is_found_on_the_next_try()
    {
        var resolver = NewResolver();
        Assert.Null(resolver.TryResolve("peer.example", 0, out var failure));
        Assert.Contains("still being looked up", failure);

        _pending["peer.example"].SetResult([IPAddress.IPv6Loopback, IPAddress.Parse("10.0.0.7")]);
        Assert.Equal(IPAddress.Parse("10.0.0.7"), resolver.TryResolve("PEER.example", 10, out failure));
        Assert.Null(failure);
        Assert.Equal(["peer.example"], _asked);
    }

    [Fact]
    public void An_answer_is_kept_while_fresh_then_looked_up_again()
    {
        var resolver = NewResolver();
        resolver.TryResolve("peer.example", 0, out _);
        _pending["peer.example"].SetResult([IPAddress.Parse("10.0.0.7")]);
        Assert.NotNull(resolver.TryResolve("peer.example", HostResolver.FreshMilliseconds - 1, out _));
        Assert.Single(_asked);

        // Stale: a new lookup starts, and until it answers the known address is still the answer (a slow resolver
        // does not take it away from a link that reconnects meanwhile).
        Assert.Equal(IPAddress.Parse("10.0.0.7"), resolver.TryResolve("peer.example", HostResolver.FreshMilliseconds, out var failure));
        Assert.Null(failure);
        Assert.Equal(2, _asked.Count);
        Assert.Equal(IPAddress.Parse("10.0.0.7"), resolver.TryResolve("peer.example", HostResolver.FreshMilliseconds + 1, out _));
        Assert.Equal(2, _asked.Count);
        _pending["peer.example"].SetResult([IPAddress.Parse("10.0.0.8")]);
        Assert.Equal(IPAddress.Parse("10.0.0.8"), resolver.TryResolve("peer.example", HostResolver.FreshMilliseconds + 1, out _));
    }

    [Fact]
    public void A_failed_lookup_is_the_answer_until_the_retry_interval_then_tried_again()
    {
        var resolver = NewResolver();
        resolver.TryResolve("gone.invalid", 0, out _);
        _pending["gone.invalid"].SetException(new SocketException((int)SocketError.HostNotFound));
        Assert.Null(resolver.TryResolve("gone.invalid", 1, out var failure));
        Assert.StartsWith("the host 'gone.invalid' does not resolve: ", failure);
        Assert.Null(resolver.TryResolve("gone.invalid", HostResolver.RetryMilliseconds - 1, out _));
        Assert.Single(_asked);

        resolver.TryResolve("gone.invalid", HostResolver.RetryMilliseconds, out _);
        Assert.Equal(2, _asked.Count);
        _pending["gone.invalid"].SetResult([IPAddress.Parse("10.0.0.9")]);
        Assert.Equal(IPAddress.Parse("10.0.0.9"), resolver.TryResolve("gone.invalid", HostResolver.RetryMilliseconds + 1, out _));
    }

    [Fact]
    public void The_poller_waits_for_lookups_only_briefly_in_all_however_many_names_hang()
    {
        // A resolver that never answers, and 20 names in one second: 50 ms each would be a second of the poller's
        // time; the budget is 100 ms a second in all, and a lookup already under way is not waited for again.
        var resolver = NewResolver();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 20; i++) Assert.Null(resolver.TryResolve($"hung{i}.example", 5, out _));
        for (var i = 0; i < 20; i++) Assert.Null(resolver.TryResolve($"hung{i}.example", 6, out _));
        Assert.True(clock.ElapsedMilliseconds < 900, $"the poller waited {clock.ElapsedMilliseconds} ms");
        Assert.Equal(20, _asked.Count);
    }

    [Fact]
    public void A_name_with_only_IPv6_addresses_has_no_address_to_connect_to()
    {
        var resolver = NewResolver();
        resolver.TryResolve("v6.example", 0, out _);
        _pending["v6.example"].SetResult([IPAddress.IPv6Loopback]);
        Assert.Null(resolver.TryResolve("v6.example", 1, out var failure));
        Assert.Contains("no IPv4 address", failure);
    }
}
