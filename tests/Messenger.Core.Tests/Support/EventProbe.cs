using System.Collections.Concurrent;

namespace Messenger.Tests.Support;

/// <summary>Records a node's peer events and lets a test wait for one that matches, with a timeout.</summary>
public sealed class EventProbe : IDisposable
{
    private readonly MessengerNode _node;
    private readonly ConcurrentQueue<(string Kind, PeerEventArgs Args)> _seen = new();
    private readonly SemaphoreSlim _signal = new(0);

    public EventProbe(MessengerNode node)
    {
        _node = node;
        node.PeerJoined += OnJoined;
        node.PeerUnreachable += OnUnreachable;
        node.PeerLeft += OnLeft;
    }

    public IReadOnlyCollection<(string Kind, PeerEventArgs Args)> Seen => _seen;

    private void OnJoined(object? sender, PeerEventArgs e) => Add("joined", e);
    private void OnUnreachable(object? sender, PeerEventArgs e) => Add("unreachable", e);
    private void OnLeft(object? sender, PeerEventArgs e) => Add("left", e);

    private void Add(string kind, PeerEventArgs e)
    {
        _seen.Enqueue((kind, e));
        _signal.Release();
    }

    /// <summary>Waits for an event of <paramref name="kind"/> about <paramref name="peer"/>; returns it.</summary>
    public async Task<PeerEventArgs> WaitAsync(string kind, string peer, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestCluster.Timeout);
        while (true)
        {
            var match = _seen.FirstOrDefault(e => e.Kind == kind && e.Args.Peer.Name == peer);
            if (match.Args is not null) return match.Args;
            try
            {
                await _signal.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{_node.Name} saw no '{kind}' event for {peer}; saw: {string.Join(", ", _seen.Select(s => $"{s.Kind} {s.Args.Peer.Name}"))}");
            }
        }
    }

    public void Dispose()
    {
        _node.PeerJoined -= OnJoined;
        _node.PeerUnreachable -= OnUnreachable;
        _node.PeerLeft -= OnLeft;
        _signal.Dispose();
    }
}
