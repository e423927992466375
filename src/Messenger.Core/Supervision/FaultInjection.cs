using System.Collections.Concurrent;

namespace Messenger.Supervision;

/// <summary>Test-only faults a node can be told to suffer (internal: not part of the public API). Actors are
/// named as in the supervisor: "unicast", "broadcast", "beacon", "node", "data", "link:&lt;peer&gt;", and "leave" (the
/// stop's work on the loop).</summary>
internal sealed class FaultInjection
{
    private readonly ConcurrentDictionary<string, int> _throws = new(StringComparer.Ordinal);
    private int _forgetSessions;

    private TaskCompletionSource _sessionsForgotten = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>At its next frame on the unicast port, the node forgets every inbound session, as if its unicast
    /// socket had been replaced: what arrives on the old sessions is lost and answered RESET. The task completes once
    /// it has.</summary>
    public Task ForgetSessions()
    {
        var forgotten = Volatile.Read(ref _sessionsForgotten).Task;
        Interlocked.Exchange(ref _forgetSessions, 1);
        return forgotten;
    }

    public bool TakeForgetSessions()
    {
        if (Interlocked.Exchange(ref _forgetSessions, 0) != 1) return false;
        Interlocked.Exchange(ref _sessionsForgotten, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return true;
    }

    /// <summary>The node receives broadcasts but acknowledges none, as a peer whose subscription silently broke would.</summary>
    public bool MuteBroadcastAcks { get; set; }

    private int _loseBroadcastFrames;

    /// <summary>The node's next <paramref name="frames"/> broadcast frames are lost on the way, to every peer, as
    /// ZeroMQ loses them for a subscriber past its high-water mark: the broadcaster counts them as published.</summary>
    public void LoseBroadcastFrames(int frames) => Interlocked.Add(ref _loseBroadcastFrames, frames);

    public bool TakeLostBroadcastFrame() => TakeOne(ref _loseBroadcastFrames);

    private int _missBroadcastFrames;

    /// <summary>The next <paramref name="frames"/> frames this node's subscribers read (broadcasts, tails, probes) are
    /// lost here alone, as ZeroMQ drops them for one subscriber that lagged past its high-water mark.</summary>
    public void MissBroadcastFrames(int frames) => Interlocked.Add(ref _missBroadcastFrames, frames);

    public bool TakeMissedBroadcastFrame() => TakeOne(ref _missBroadcastFrames);

    private int _loseDataFrames;

    /// <summary>The node's next <paramref name="frames"/> frames sent on data connections are lost on the way, as
    /// when a TCP connection breaks and ZeroMQ connects it again: the sender counts them as sent.</summary>
    public void LoseDataFrames(int frames) => Interlocked.Add(ref _loseDataFrames, frames);

    public bool TakeLostDataFrame() => TakeOne(ref _loseDataFrames);

    private volatile TaskCompletionSource? _dataReceiverHold;
    private TaskCompletionSource _dataReceiverHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The data receiver stops at its next frame, as a thread the machine does not run for a while would,
    /// until the returned action is called: frames on data connections wait meanwhile.</summary>
    public Action HoldDataReceiver()
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _dataReceiverHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _dataReceiverHold = hold;
        return () =>
        {
            _dataReceiverHold = null;
            hold.TrySetResult();
        };
    }

    /// <summary>Completes once the data receiver, held by the last <see cref="HoldDataReceiver"/>, has a frame and
    /// waits with it.</summary>
    public Task DataReceiverHeld => Volatile.Read(ref _dataReceiverHeld).Task;

    public void WaitWhileDataReceiverHeld()
    {
        if (_dataReceiverHold is not { } hold) return;
        Volatile.Read(ref _dataReceiverHeld).TrySetResult();
        hold.Task.Wait();
    }

    private volatile TaskCompletionSource? _dataAckHold;
    private TaskCompletionSource _dataAckHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource<long> _dataAckOwed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The data receiver stops once it has delivered its next frame's messages and before it owes the peer
    /// the ACK for them, until the returned action is called; <see cref="AckOwedAfterHold"/> then tells what the
    /// link owes the peer.</summary>
    public Action HoldBeforeDataAck()
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _dataAckHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _dataAckOwed = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        _dataAckHold = hold;
        return () => hold.TrySetResult();
    }

    /// <summary>Completes once the data receiver, held by <see cref="HoldBeforeDataAck"/>, waits.</summary>
    public Task DataAckHeld => Volatile.Read(ref _dataAckHeld).Task;

    /// <summary>The ACK the link owed the peer right after the held frame's was owed (0: none).</summary>
    public Task<long> AckOwedAfterHold => Volatile.Read(ref _dataAckOwed).Task;

    /// <summary>True when it held the data receiver: the caller reports with <see cref="ReportAckOwed"/>.</summary>
    public bool WaitBeforeDataAck()
    {
        // A look at a field on every frame; the exchange only when a test armed the hold.
        if (_dataAckHold is null || Interlocked.Exchange(ref _dataAckHold, null) is not { } hold) return false;
        Volatile.Read(ref _dataAckHeld).TrySetResult();
        hold.Task.Wait();
        return true;
    }

    public void ReportAckOwed(long owed) => Volatile.Read(ref _dataAckOwed).TrySetResult(owed);

    /// <summary>Takes one from a count of faults still to come: false when none is left.</summary>
    private static bool TakeOne(ref int count)
    {
        while (true)
        {
            var n = Volatile.Read(ref count);
            if (n == 0) return false;
            if (Interlocked.CompareExchange(ref count, n - 1, n) == n) return true;
        }
    }

    /// <summary>The actor's next piece of work throws.</summary>
    public void Throw(string actor) => _throws.AddOrUpdate(actor, 1, (_, n) => n + 1);

    /// <summary>Throws if a fault was injected into <paramref name="actor"/>.</summary>
    public void Check(string actor)
    {
        if (_throws.IsEmpty) return;
        if (_throws.TryGetValue(actor, out var n) && n > 0 && _throws.TryUpdate(actor, n - 1, n)) throw new InjectedFaultException(actor);
    }
}
