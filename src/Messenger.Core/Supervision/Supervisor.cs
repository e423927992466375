namespace Messenger.Supervision;

/// <summary>
/// The restart policy of a node's actors, after OTP's one_for_one: the actor that failed, and only it, is
/// restarted, unless more than MaxRestarts restarts fall within RestartPeriod; then the failure escalates and the
/// node stops as Faulted instead of looping. Only the node's poller thread calls it.
/// </summary>
internal sealed class Supervisor(int maxRestarts, TimeSpan period)
{
    private readonly Queue<long> _recent = new();

    public long TotalRestarts { get; private set; }
    public string? LastError { get; private set; }

    /// <summary>Records a failure; true when a restart is allowed, false when the intensity is exceeded.</summary>
    public bool AllowRestart(string actor, Exception cause, long now)
    {
        LastError = $"{actor}: {cause.GetType().Name}: {cause.Message}";
        while (_recent.Count > 0 && now - _recent.Peek() > (long)period.TotalMilliseconds) _recent.Dequeue();
        if (_recent.Count >= maxRestarts) return false;
        _recent.Enqueue(now);
        TotalRestarts++;
        return true;
    }
}
