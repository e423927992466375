namespace Messenger.Transport;

// MessageDropped for single messages (a full receive queue, a body too large on arrival) can come by the million,
// faster than a handler takes them. The event queue holds at most MaxQueuedDropEvents of them; the rest are summed
// by peer and reason and raised as one event each (with its Count) once the pump has caught up, or at stop. Every
// dropped message is still counted and raised, and other events are never crowded out.
internal sealed partial class NodeRuntime
{
    private const int MaxQueuedDropEvents = 10_000;

    private readonly Lock _dropSumsGate = new();
    private readonly Dictionary<(string Peer, string Reason), long> _dropSums = [];
    private int _queuedDropEvents;

    /// <summary>Raises MessageDropped for one message, or adds it to the sums when too many wait to be raised.
    /// <paramref name="sumReason"/> is the reason its sum gives. The poller or the data receiver.</summary>
    private void RaiseDropped(MessengerMessage message, string reason, string sumReason)
    {
        if (MessageDropped is null) return;
        if (Interlocked.Increment(ref _queuedDropEvents) > MaxQueuedDropEvents)
        {
            Interlocked.Decrement(ref _queuedDropEvents);
            lock (_dropSumsGate) _dropSums[(message.From, sumReason)] = _dropSums.GetValueOrDefault((message.From, sumReason)) + 1;
            return;
        }
        var args = new MessageDroppedEventArgs(message, message.From, reason);
        Raise(nameof(MessageDropped), () =>
        {
            Interlocked.Decrement(ref _queuedDropEvents);
            RaiseDropSums(all: false);
            InvokeEach(MessageDropped, args);
        });
    }

    /// <summary>Queues the sums of the drops that were not raised one by one: on the pump once the queue of drop
    /// events is down to half (the sums then follow the events queued before them), or <paramref name="all"/> at
    /// stop.</summary>
    private void RaiseDropSums(bool all)
    {
        if (!all && Volatile.Read(ref _queuedDropEvents) > MaxQueuedDropEvents / 2) return;
        List<KeyValuePair<(string Peer, string Reason), long>> sums;
        lock (_dropSumsGate)
        {
            if (_dropSums.Count == 0) return;
            sums = [.. _dropSums];
            _dropSums.Clear();
        }
        foreach (var ((peer, reason), count) in sums)
        {
            var args = new MessageDroppedEventArgs(null, peer, reason, count);
            Raise(nameof(MessageDropped), () => InvokeEach(MessageDropped, args));
        }
    }
}
