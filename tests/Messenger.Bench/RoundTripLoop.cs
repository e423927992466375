using System.Diagnostics;

namespace Messenger.Bench;

/// <summary>The measuring loop of every round-trip client: one message in flight at a time, the warm-up, the JIT's
/// settling, then the measured exchanges, and "done" with the window's costs and the latency percentiles.</summary>
internal static class RoundTripLoop
{
    /// <summary>Runs <paramref name="warmup"/> then <paramref name="count"/> exchanges. An exchange sends message
    /// <c>i</c> and returns the length of its echo, or -1 when it timed out; the clock runs around it. Returns the
    /// process's exit code.</summary>
    public static async Task<int> RunAsync(int size, int warmup, int count, Func<int, ValueTask<int>> exchange, Func<(string Key, object Value)[]>? extra = null)
    {
        var samples = new long[count];
        var start = default(Probe);
        for (var i = 0; i < warmup + count; i++)
        {
            if (i == warmup)
            {
                ParentLink.Say("warmed", JitSettle.Wait());
                start = Probe.Take();
            }
            var t0 = Stopwatch.GetTimestamp();
            var length = await exchange(i).ConfigureAwait(false);
            var t1 = Stopwatch.GetTimestamp();
            if (length < 0)
            {
                ParentLink.Fail($"timed out waiting for echo {i}");
                return 1;
            }
            if (length != size)
            {
                ParentLink.Fail($"an echo of {length} bytes, expected {size}");
                return 1;
            }
            if (i >= warmup) samples[i - warmup] = t1 - t0;
        }
        var end = Probe.Take();
        ParentLink.Say("done", [.. end.Since(start), .. Latency.Summarize(samples), .. extra?.Invoke() ?? []]);
        await ParentLink.WaitForStopAsync().ConfigureAwait(false);
        return 0;
    }
}
