namespace Messenger;

// The peer table and waiting for peers.
public sealed partial class MessengerNode
{
    /// <summary>The peer table as it is now, ordered by name.</summary>
    public IReadOnlyList<PeerInfo> GetPeers() => _runtime.Snapshot;

    /// <summary>One peer by name, or null.</summary>
    public PeerInfo? GetPeer(string name) => Array.Find(_runtime.Snapshot, p => p.Name == name);

    /// <summary>How many peers are connected.</summary>
    public int ConnectedPeerCount => _runtime.Snapshot.Count(p => p.State == PeerState.Connected);

    /// <summary>Waits until every named peer is connected: then a broadcast sent afterwards reaches each of them.
    /// The node's own name is passed over, so that every member can be given the list of all members.</summary>
    /// <exception cref="PeerWaitTimeoutException">The timeout passed first; it names who was missing.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative (but not Timeout.InfiniteTimeSpan) or longer than about 49 days.</exception>
    public Task WaitForPeersAsync(IEnumerable<string> names, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        CheckTimeout(timeout);
        var wanted = names.Where(n => n != Name).Distinct(StringComparer.Ordinal).ToArray();
        return WaitAsync(
            peers => wanted.Where(n => !peers.Any(p => p.Name == n && p.State == PeerState.Connected)).ToArray(),
            wanted.Length,
            timeout,
            cancellationToken);
    }

    /// <summary>Waits until at least <paramref name="count"/> peers are connected.</summary>
    /// <exception cref="PeerWaitTimeoutException">The timeout passed first.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative (but not Timeout.InfiniteTimeSpan) or longer than about 49 days.</exception>
    public Task WaitForPeerCountAsync(int count, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckTimeout(timeout);
        return WaitAsync(peers => peers.Count(p => p.State == PeerState.Connected) >= count ? [] : null, count, timeout, cancellationToken);
    }

    /// <summary>Joins through a known endpoint (tcp://host:port of a node's unicast socket), like a seed given at
    /// start, and waits until the node there is connected. Returns it.</summary>
    /// <exception cref="MessengerConfigurationException">The endpoint is not of the form tcp://host:port.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative (but not Timeout.InfiniteTimeSpan) or longer than about 49 days.</exception>
    /// <exception cref="PeerWaitTimeoutException">No node there became connected in time; its
    /// <see cref="PeerWaitTimeoutException.Reason"/> says why when the endpoint could not even be connected to (its
    /// host name does not resolve, say). The endpoint stays a seed and is tried again, as a seed given at start
    /// is.</exception>
    /// <remarks>The node's own loop is asked first, which it answers at once unless it hangs: that question may take
    /// up to a second more than a shorter <paramref name="timeout"/>. A timeout of zero finds a peer connected at the
    /// endpoint already; <see cref="Timeout.InfiniteTimeSpan"/> waits until the node there is connected.</remarks>
    public async Task<PeerInfo> ConnectAsync(string endpoint, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        CheckTimeout(timeout);
        ThrowIfStopped();
        var started = DateTimeOffset.UtcNow;
        string name;
        try
        {
            // The poller's own hop is not part of the caller's wait: a timeout of zero still finds a peer that is
            // connected there already. The poller answers at once unless it hangs, which a second bounds.
            var pollerWait = timeout == Timeout.InfiniteTimeSpan || timeout > TimeSpan.FromSeconds(1) ? timeout : TimeSpan.FromSeconds(1);
            var answered = await _runtime.ConnectAsync(endpoint).WaitAsync(pollerWait, cancellationToken).ConfigureAwait(false);
            name = await answered.WaitAsync(Remaining(timeout, started), cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Asked of the poller, which may be busy: the timeout has passed already, so not for long.
            var ask = _runtime.SeedConnectFailureAsync(endpoint);
            await ((Task)ask.WaitAsync(TimeSpan.FromSeconds(1), cancellationToken)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var reason = ask.IsCompletedSuccessfully ? ask.Result : null;
            throw new PeerWaitTimeoutException(timeout, [endpoint], ConnectedPeerCount, 1, reason);
        }
        await WaitForPeersAsync([name], Remaining(timeout, started), cancellationToken).ConfigureAwait(false);
        return GetPeer(name)!;
    }

    private static TimeSpan Remaining(TimeSpan timeout, DateTimeOffset started)
    {
        if (timeout == Timeout.InfiniteTimeSpan) return timeout;
        var left = timeout - (DateTimeOffset.UtcNow - started);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    // What .NET's timers take: up to 2^32 - 2 ms (about 49 days), or Timeout.InfiniteTimeSpan.
    private static void CheckTimeout(TimeSpan timeout)
    {
        if ((timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan) || timeout.TotalMilliseconds > uint.MaxValue - 1)
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "must be zero or more (at most about 49 days), or Timeout.InfiniteTimeSpan");
    }

    // missing: who is still missing in a snapshot; an empty array when satisfied, null when not satisfied
    // and there are no names to report.
    private async Task WaitAsync(Func<IReadOnlyList<PeerInfo>, string[]?> missing, int wanted, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timer = new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
        while (true)
        {
            var changed = _runtime.PeersChanged;
            var left = missing(_runtime.Snapshot);
            if (left is { Length: 0 }) return;
            ThrowIfStopped();
            try
            {
                await changed.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                left = missing(_runtime.Snapshot);
                if (left is { Length: 0 }) return;
                throw new PeerWaitTimeoutException(timeout, left ?? [], ConnectedPeerCount, wanted);
            }
        }
    }
}
