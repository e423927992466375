using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Runtime;

namespace Messenger.Bench;

/// <summary>
/// Between the warm-up and the measured window, every process of a throughput or round-trip measurement waits,
/// idle, until its JIT has compiled nothing for a while. For seconds after start the runtime's background compiler
/// keeps recompiling methods with their profile data (tier 1), the colder paths last as they pass their call
/// counts, and on two cores it took a fifth to a third of a receiver's CPU in the measured window (80-220 ms of its
/// 330-850). The figures are meant to be a long-running node's, and the raw NetMQ yardsticks settle the same way.
/// </summary>
internal static class JitSettle
{
    /// <summary>The warm-up goes in this many bursts, each followed by a settling: a method still on its way up the
    /// tiers is promoted only as it is called, so the paths the first burst left unpromoted (waiting readers, say)
    /// are promoted in the second rather than in the measured window.</summary>
    public const int Rounds = 2;

    /// <summary>The number of messages, counted from the start, after which warm-up burst <paramref name="round"/>
    /// (1 to <see cref="Rounds"/>) ends.</summary>
    public static long RoundEnd(long warmup, int round) => warmup * round / Rounds;

    /// <summary>True when the <paramref name="n"/>th message ends a warm-up burst: its receiver then settles.</summary>
    public static bool IsRoundEnd(long n, long warmup) => EndsRound(n - 1, n, warmup);

    /// <summary>True when going from message <paramref name="before"/> to message <paramref name="now"/> (numbered
    /// from 1) passed the end of a warm-up burst.</summary>
    public static bool EndsRound(long before, long now, long warmup)
    {
        for (var round = 1; round <= Rounds; round++)
        {
            var end = RoundEnd(warmup, round);
            if (before < end && now >= end) return true;
        }
        return false;
    }

    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    /// <summary>The longest all the settlings of one measurement can take, which its timeouts allow for.</summary>
    public static TimeSpan MaxTotal => Limit * Rounds;

    /// <summary>Waits until the runtime has reported no method compiled for <see cref="Quiet"/>, or
    /// <see cref="Limit"/> has passed; returns what to report: how long it waited, the methods compiled so far, and
    /// whether it went quiet.</summary>
    public static (string Key, object Value)[] Wait()
    {
        var begin = Stopwatch.GetTimestamp();
        var quiet = false;
        using (var jit = new JitEvents())
        {
            while (Limit - Stopwatch.GetElapsedTime(begin) is var left && left > TimeSpan.Zero)
            {
                // Each compilation signals; a whole quiet period without one ends the wait.
                if (!jit.Compiled.WaitOne(left < Quiet ? left : Quiet))
                {
                    quiet = left >= Quiet;
                    break;
                }
            }
        }
        return [("settle_ms", Math.Round(Stopwatch.GetElapsedTime(begin).TotalMilliseconds)), ("jit_methods", JitInfo.GetCompiledMethodCount()), ("jit_quiet", quiet ? 1 : 0)];
    }

    /// <summary>The runtime's JIT events (MethodLoadVerbose, keyword JIT), while the settling lasts.</summary>
    private sealed class JitEvents : EventListener
    {
        private const int MethodLoadVerbose = 143;
        private const EventKeywords JitKeyword = (EventKeywords)0x10;

        public AutoResetEvent Compiled { get; } = new(false);

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, JitKeyword);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            // An event still being dispatched as the settling ends may find the signal gone.
            if (e.EventId != MethodLoadVerbose) return;
            try
            {
                Compiled.Set();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public override void Dispose()
        {
            base.Dispose();
            Compiled.Dispose();
        }
    }
}
