namespace Messenger.Tests.Support;

/// <summary>Something a test waits on changed (a metric was recorded, a log line written): waiters re-check their
/// condition. A waiter takes the signal's task before checking, so a change between the check and the wait is not
/// missed.</summary>
public sealed class ChangeSignal
{
    private TaskCompletionSource _next = New();

    public void Pulse() => Interlocked.Exchange(ref _next, New()).TrySetResult();

    /// <summary>Completes when <paramref name="condition"/> holds; fails with <paramref name="state"/> after
    /// <paramref name="timeout"/>.</summary>
    public async Task UntilAsync(Func<bool> condition, Func<string> state, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            var changed = Volatile.Read(ref _next).Task;
            if (condition()) return;
            try
            {
                await changed.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                if (condition()) return;
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s: {state()}");
            }
        }
    }

    private static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
