namespace Messenger.Transport;

/// <summary>
/// The broadcast frames published and not yet acknowledged by every peer that our broadcasts reach, by the last
/// sequence number of each. Publishing stops while <see cref="Capacity"/> frames are in flight, so that the
/// broadcaster goes at the pace of its slowest peer instead of piling frames up in ZeroMQ's pipes, which would
/// hold up to their high-water mark (1,000 frames each) and then drop. Poller thread only.
/// </summary>
internal sealed class BroadcastWindow(int capacity)
{
    private readonly Queue<long> _inFlight = new();

    public int Capacity { get; } = capacity;

    public int Count => _inFlight.Count;

    public bool IsFull => _inFlight.Count >= Capacity;

    /// <summary>The last sequence published (0: none yet).</summary>
    public long LastPublished { get; private set; }

    public void Published(long lastSequence)
    {
        _inFlight.Enqueue(lastSequence);
        LastPublished = lastSequence;
    }

    /// <summary>Every peer has every broadcast up to <paramref name="floor"/>: the frames up to it leave the window.</summary>
    public void AcknowledgedUpTo(long floor)
    {
        while (_inFlight.TryPeek(out var last) && last <= floor) _inFlight.Dequeue();
    }

    /// <summary>The publisher was replaced: what it had in flight is gone with it.</summary>
    public void Clear() => _inFlight.Clear();
}
