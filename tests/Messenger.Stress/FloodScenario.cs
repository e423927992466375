using System.Security.Cryptography;
using System.Text.Json;

namespace Messenger.Stress;

/// <summary>
/// Scenario 1 (issue 3): members a and b exchange acknowledged unicast at full rate while strangers attack b with
/// half-open handshakes and with random and mutated frames. b runs in a process of its own (this program, child
/// role "target"), so its memory figures are its own; a and the attackers run here.
/// </summary>
internal sealed class FloodScenario(Report report, Settings settings)
{
    private const string S = "1 security flood";
    private static readonly TimeSpan Ask = TimeSpan.FromSeconds(30);

    public async Task RunAsync()
    {
        var cluster = $"stress-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5))}";
        var key = ClusterKey.Generate();
        var (file, prefix) = LineProcess.Self();
        await using var b = LineProcess.Start("b (target)", file,
            [.. prefix, "--child", "target", "--name", "b", "--member", "a", "--cluster", cluster, "--cluster-key", key.ToBase64()]);
        var started = await b.WaitAsync(e => e.Kind is "started" or "error", Ask, "started").ConfigureAwait(false);
        if (started.Kind != "started") throw new InvalidOperationException($"b did not start: {started.Line}");
        var endpoint = Zmtp.ParseEndpoint(started["endpoint"]!);

        await using var a = await MessengerNode.StartAsync(MessengerNodeOptions.Default with
        {
            Name = "a",
            Cluster = cluster,
            ClusterKey = key,
            KeyPair = MessengerKeyPair.Generate(),
            BindAddress = "127.0.0.1",
            BeaconInterface = "lo",
        }).ConfigureAwait(false);
        var aEvents = new List<string>();
        // Only events about b count (member c joins and leaves on purpose).
        a.PeerUnreachable += (_, e) => { if (e.Peer.Name == "b") lock (aEvents) aEvents.Add($"{Clock.Now():0} unreachable {e.Peer.Name}: {e.Reason}"); };
        a.PeerLeft += (_, e) => { if (e.Peer.Name == "b") lock (aEvents) aEvents.Add($"{Clock.Now():0} left {e.Peer.Name}: {e.Reason}"); };
        await a.WaitForPeersAsync(["b"], Ask).ConfigureAwait(false);
        var waited = await b.RequestAsync(new { cmd = "wait" }, Ask, "b waits for a").ConfigureAwait(false);
        if (waited.Kind != "waited") throw new InvalidOperationException($"b does not see a: {waited.Line}");
        var bMark = b.Mark;

        Console.WriteLine($"  a and b connected (cluster {cluster}); {settings.SendLoops} acknowledged send loops of {settings.BodySize} B from a to b");
        var traffic = new Traffic(a, "b", settings.BodySize);
        traffic.Start(settings.SendLoops);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(settings.WarmupSeconds)).ConfigureAwait(false);
            var baseline0 = traffic.Now;
            var baselineStats = a.Statistics;
            var share0 = MachineShare.Take(Long(await StatsAsync(b, resetPeaks: false).ConfigureAwait(false), "cpuMs"));
            await Task.Delay(TimeSpan.FromSeconds(settings.BaselineSeconds)).ConfigureAwait(false);
            var baseline1 = traffic.Now;
            var share1 = MachineShare.Take(Long(await StatsAsync(b, resetPeaks: false).ConfigureAwait(false), "cpuMs"));
            var before = await StatsAsync(b, gc: true).ConfigureAwait(false);
            var baseline = traffic.RateBetween(baseline0, baseline1);
            var aBefore = a.Statistics;
            Console.WriteLine($"  baseline: {baseline:#,0} acknowledged msgs/s");

            // Half-open handshakes.
            var halfOpen = new HalfOpenFlood(endpoint, cluster, settings.HalfOpen, settings.Window, TimeSpan.FromSeconds(settings.HoldSeconds));
            halfOpen.Prepare();
            await Task.Delay(1000).ConfigureAwait(false);
            var h0 = traffic.Now;
            using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(180)))
            {
                await halfOpen.RunAsync(async () => Reason(await StatsAsync(b, resetPeaks: false).ConfigureAwait(false), "rate-limited"), limit.Token).ConfigureAwait(false);
            }
            var h1 = traffic.Now;
            var afterHalfOpen = await StatsAsync(b).ConfigureAwait(false);
            Console.WriteLine($"  half-open waves (open/close s): {string.Join(' ', halfOpen.Waves.Select(w => $"{w.Open:0.0}/{w.Close:0.0}"))}");
            Console.WriteLine($"  half-open: {halfOpen.Opened:#,0} connections in {halfOpen.Elapsed.TotalSeconds:0.0} s; members {traffic.RateBetween(h0, h1):#,0} msgs/s ({traffic.Series(h0, h1)})");

            // Random and mutated frames.
            var aAfterHalfOpen = a.Statistics;
            var frames = new FrameFlood(endpoint, cluster, settings.Frames, settings.FrameConnections);
            var f0 = traffic.Now;
            using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(240)))
            {
                await frames.RunAsync(limit.Token).ConfigureAwait(false);
            }
            // The attack lasts until b has read every frame: wait for its counters (bounded).
            var expectedCounted = Counted(before) + halfOpen.HellosSent + frames.FramesSent;
            // Every HELLO b read is counted or still pending; the pending ones (answered, not yet refused as
            // pending-limit or timed-out) are counted when they time out (5 s), during this phase.
            var pendingAtStart = halfOpen.Replies.Handshakes - Reason(afterHalfOpen, "pending-limit") - Reason(afterHalfOpen, "timed-out");
            var processed = await WaitForAsync(b, s => Counted(s) - Counted(afterHalfOpen) >= frames.FramesSent + pendingAtStart, TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            var f1 = traffic.Now;
            var share2 = MachineShare.Take(Long(await StatsAsync(b, resetPeaks: false).ConfigureAwait(false), "cpuMs"));
            var aAfterFrames = a.Statistics;
            await frames.CloseAsync().ConfigureAwait(false);
            Console.WriteLine($"  frames: {frames.FramesSent:#,0} in {f1 - f0:0.0} s ({frames.FramesSent / (f1 - f0):#,0}/s read by b); members {traffic.RateBetween(f0, f1):#,0} msgs/s ({traffic.Series(f0, f1)})");

            await Task.Delay(TimeSpan.FromSeconds(settings.AfterSeconds)).ConfigureAwait(false);
            var a1 = traffic.Now;
            await traffic.StopAsync().ConfigureAwait(false);

            // Pending handshakes expire after HandshakeTimeout (5 s): then every attack frame is counted.
            var settled = await WaitForAsync(b, s => Counted(s) >= expectedCounted, TimeSpan.FromSeconds(15)).ConfigureAwait(false);
            var after = await StatsAsync(b, gc: true).ConfigureAwait(false);

            // Figures.
            var rateHalf = traffic.RateBetween(h0, h1);
            var rateFrames = traffic.RateBetween(f0, f1);
            report.Info(S, "member acknowledged msgs/s before the attack (a -> b, 64 B)", baseline, "msg/s");
            report.Info(S, "machine CPU used by other processes before the attack", share1.OthersPercentSince(share0), "%");
            report.Info(S, "machine CPU used by other processes during the attack", share2.OthersPercentSince(share1), "%");
            report.AtLeast(S, "member msgs/s during half-open flood, ratio to before", rateHalf / baseline, "x", 0.5);
            report.AtLeast(S, "member msgs/s during frame flood, ratio to before", rateFrames / baseline, "x", 0.5);
            report.Info(S, "member msgs/s during half-open flood", rateHalf, "msg/s");
            report.Info(S, "member msgs/s during frame flood", rateFrames, "msg/s");
            report.Info(S, "member msgs/s, worst whole second under attack", Math.Min(traffic.MinSecondRate(h0, h1), traffic.MinSecondRate(f0, f1)), "msg/s");
            report.Info(S, "member msgs/s after the attack", traffic.RateBetween(f1, a1), "msg/s");

            static double PerFrame(MessengerStatistics x, MessengerStatistics y) => (double)(y.MessagesSent - x.MessagesSent) / Math.Max(1, y.FramesSent - x.FramesSent);
            report.Info(S, "a's messages per frame (batch) before the attack", PerFrame(baselineStats, aBefore), "msg/frame");
            report.Info(S, "a's messages per frame during the frame flood", PerFrame(aAfterHalfOpen, aAfterFrames), "msg/frame");
            var aFrames = (aAfterFrames.FramesSent - aAfterHalfOpen.FramesSent) / (f1 - f0);
            report.Info(S, "a's frames/s to b during the frame flood", aFrames, "frame/s");
            report.Info(S, $"a's share of the frames b read during the frame flood (fair share 1/{settings.FrameConnections + 1} = {1.0 / (settings.FrameConnections + 1):0.###})", aFrames / (aFrames + frames.FramesSent / (f1 - f0)), "share");
            report.Info(S, "half-open connections opened (HELLO, never message 3)", halfOpen.Opened, "conn");
            report.Info(S, "half-open connections at once (wave size)", halfOpen.PeakOpen, "conn");
            report.Info(S, "half-open phase duration", halfOpen.Elapsed.TotalSeconds, "s");
            report.Exactly(S, "half-open connections that failed to connect", halfOpen.ConnectFailures, "conn", 0);
            report.Exactly(S, "half-open waves b had not read within 20 s (every HELLO refused for rate or answered)", halfOpen.WavesNotFullyRead, "waves", 0);
            var maxRate = MessengerNodeOptions.Default.MaxHandshakesPerSecond;
            var allowedAnswers = maxRate * (h1 - h0 + (f1 - f0)) + maxRate;
            report.AtMost(S, $"HELLOs answered with message 2 (rate limit {maxRate}/s over the attack + burst)", halfOpen.Replies.Handshakes + frames.Replies.Handshakes, "msg", Math.Round(allowedAnswers));
            report.Info(S, "random/mutated frames sent", frames.FramesSent, "frames");
            report.Info(S, "random/mutated frame bytes sent", frames.BytesSent / 1048576.0, "MiB");
            foreach (var kind in Enum.GetValues<FloodKind>()) report.Info(S, $"  of which {kind}", frames.Sent(kind), "frames");
            report.Info(S, "frame flood: frames read by b per second", frames.FramesSent / (f1 - f0), "frame/s");
            report.Info(S, "replies to strangers: REFUSE", halfOpen.Replies.Refuses + frames.Replies.Refuses, "frames");
            report.Info(S, "replies to strangers: RESET", halfOpen.Replies.Resets + frames.Replies.Resets, "frames");
            report.Exactly(S, "replies to strangers: anything else (sealed data, WELCOME, ...)", halfOpen.Replies.Other + frames.Replies.Other, "frames", 0);

            var dRejected = Long(after, "framesRejected") - Long(before, "framesRejected");
            var dRefused = Long(after, "handshakesRefused") - Long(before, "handshakesRefused");
            report.Info(S, "b FramesRejected during the attack", dRejected, "frames");
            report.Info(S, "b HandshakesRefused during the attack", dRefused, "handshakes");
            foreach (var reason in Reasons(after, before)) report.Info(S, $"  refused, reason {reason.Key}", reason.Value, "handshakes");
            report.Exactly(S, "attack frames counted by b (rejected + refused), of all sent", dRejected + dRefused, "frames", halfOpen.HellosSent + frames.FramesSent);
            if (!settled) Console.WriteLine("  (b's counters had not reached the number of attack frames within 15 s)");
            if (!processed) Console.WriteLine("  (b had not read every attack frame within 60 s of the end of sending)");

            // Delivery: b got a's messages only, each once and in order, and every acknowledged one.
            report.Exactly(S, "messages b delivered from strangers", Long(after, "strangers"), "msg", 0);
            report.Exactly(S, "gaps in a's sequence at b (lost or reordered)", Long(after, "gaps"), "msg", 0);
            report.Info(S, "acknowledged messages a -> b", traffic.Acked, "msg");
            report.AtLeast(S, "messages from a delivered at b, minus a's acknowledged ones", Long(after, "fromMember") - traffic.Acked, "msg", 0);
            report.Exactly(S, "a's acknowledged sends that failed", traffic.Failed, "msg", 0);
            if (traffic.LastError is not null) Console.WriteLine($"  last send error: {traffic.LastError}");

            // The node's own parts: a frame must never make an actor fail.
            var restarts = b.EventsSince(bMark).Where(e => e.Kind is "restarted" or "faulted").ToList();
            foreach (var e in restarts.Take(10)) Console.WriteLine($"  b: {e.Line}");
            report.Exactly(S, "b actor restarts (supervisor) during the attack", Long(after, "restarts") - Long(before, "restarts"), "restarts", 0);
            report.Check(S, "b still running at the end", after.GetProperty("state").GetString() == "Running", "yes");

            // Both stayed connected.
            var bEvents = b.EventsSince(bMark).Where(e => e.Kind is "unreachable" or "left" && e.Peer == "a").Select(e => e.Line).ToList();
            List<string> aList;
            lock (aEvents) aList = [.. aEvents];
            foreach (var line in aList.Concat(bEvents)) Console.WriteLine($"  peer event: {line}");
            report.Exactly(S, "PeerUnreachable/PeerLeft events between a and b during the run", aList.Count + bEvents.Count, "events", 0);
            report.Check(S, "a and b connected to each other at the end", a.GetPeer("b")?.State == PeerState.Connected && after.GetProperty("memberState").GetString() == "Connected", "yes");

            // Memory of b's process.
            const double MiB = 1048576.0;
            report.Info(S, "b GC heap before (after a full GC)", Long(before, "gcHeap") / MiB, "MiB");
            report.Info(S, "b GC heap peak during the attack", Math.Max(Long(afterHalfOpen, "peakGcHeap"), Long(after, "peakGcHeap")) / MiB, "MiB");
            report.AtMost(S, "b GC heap after (after a full GC), growth over before", (Long(after, "gcHeap") - Long(before, "gcHeap")) / MiB, "MiB", 16);
            report.Info(S, "b working set before", Long(before, "workingSet") / MiB, "MiB");
            var peakWs = Math.Max(Long(afterHalfOpen, "peakWorkingSet"), Long(after, "peakWorkingSet"));
            report.AtMost(S, "b working set peak during the attack, growth over before", (peakWs - Long(before, "workingSet")) / MiB, "MiB", 256);
            report.Info(S, "b working set after", Long(after, "workingSet") / MiB, "MiB");
            report.Info(S, "b open file descriptors before", Long(before, "fds"), "fds");
            report.AtMost(S, "b open file descriptors after, growth over before", Long(after, "fds") - Long(before, "fds"), "fds", 16);
            report.Info(S, "b CPU time during the run", (Long(after, "cpuMs") - Long(before, "cpuMs")) / 1000.0, "s");

            if (settings.PlainFrames > 0) await PlainVariantAsync(a, b, endpoint, cluster, key).ConfigureAwait(false);
        }
        finally
        {
            await traffic.StopAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// For comparison (no target): the same frame flood, smaller, while a sends plain (unacknowledged) unicast as
    /// fast as its queue takes it and b reads: the member's rate is what b's application reads per second.
    /// </summary>
    private async Task PlainVariantAsync(MessengerNode a, LineProcess b, System.Net.IPEndPoint endpoint, string cluster, ClusterKey key)
    {
        var stop = 0;
        var body = new byte[settings.BodySize];
        var sender = Task.Run(async () =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                try
                {
                    for (var i = 0; i < 1000; i++) await a.SendAsync("b", body).ConfigureAwait(false);
                }
                catch (MessengerException)
                {
                    return;
                }
            }
        });
        try
        {
            await Task.Delay(3000).ConfigureAwait(false);
            var p0 = await StatsAsync(b, resetPeaks: false).ConfigureAwait(false);
            var t0 = Clock.Now();
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(4, settings.BaselineSeconds / 2))).ConfigureAwait(false);
            var p1 = await StatsAsync(b, resetPeaks: false).ConfigureAwait(false);
            var t1 = Clock.Now();
            var frames = new FrameFlood(endpoint, cluster, settings.PlainFrames, settings.FrameConnections);
            // A new member joins while these frames fly (its HELLOs compete with the strangers' for b's handshake
            // rate): how long until b and it are connected?
            var joinStarted = Clock.Now();
            var joining = JoinAsync(cluster, key);
            using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(120)))
            {
                await frames.RunAsync(limit.Token).ConfigureAwait(false);
            }
            await WaitForAsync(b, s => Counted(s) - Counted(p1) >= frames.FramesSent, TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            var p2 = await StatsAsync(b, resetPeaks: false).ConfigureAwait(false);
            var t2 = Clock.Now();
            var (joinedAt, joinError) = await joining.ConfigureAwait(false);
            if (joinedAt is { } joined)
            {
                report.Info(S, "new member c: start to connected with b, started with a frame flood", (joined - joinStarted) / 1000, "s");
                report.Info(S, "new member c connected with b before that frame flood ended (1 = yes)", joined <= t2 ? 1 : 0, "yes=1");
            }
            else
            {
                report.Info(S, $"new member c: not connected with b within 60 s ({joinError})", double.NaN, "s");
            }
            await frames.CloseAsync().ConfigureAwait(false);
            var before = (Long(p1, "fromMember") - Long(p0, "fromMember")) / ((t1 - t0) / 1000);
            var during = (Long(p2, "fromMember") - Long(p1, "fromMember")) / ((t2 - t1) / 1000);
            Console.WriteLine($"  plain sends: {before:#,0} msgs/s read at b before, {during:#,0} during a flood of {frames.FramesSent:#,0} frames ({(t2 - t1) / 1000:0.0} s)");
            report.Info(S, "for comparison, unacknowledged sends: member msgs/s read at b before a frame flood", before, "msg/s");
            report.Info(S, $"for comparison, unacknowledged sends: during a flood of {frames.FramesSent:#,0} frames, ratio to before", during / before, "x");
            report.Info(S, "for comparison, unacknowledged sends: messages b dropped (receive queue full)", Long(p2, "messagesDropped") - Long(p0, "messagesDropped"), "msg");
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            await sender.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
    }

    /// <summary>Starts member c and waits (60 s at most) until it and b are connected; the monotonic time of that, or
    /// null and why not.</summary>
    private static async Task<(double? At, string? Error)> JoinAsync(string cluster, ClusterKey key)
    {
        try
        {
            await using var c = await MessengerNode.StartAsync(MessengerNodeOptions.Default with
            {
                Name = "c",
                Cluster = cluster,
                ClusterKey = key,
                KeyPair = MessengerKeyPair.Generate(),
                BindAddress = "127.0.0.1",
                BeaconInterface = "lo",
            }).ConfigureAwait(false);
            await c.WaitForPeersAsync(["b"], TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            return (Clock.Now(), null);
        }
        catch (MessengerException e)
        {
            return (null, e.Message);
        }
    }

    private static long Long(JsonElement stats, string name) => stats.GetProperty(name).GetInt64();

    private static long Reason(JsonElement stats, string reason) =>
        stats.GetProperty("refusedByReason").TryGetProperty(reason, out var v) ? v.GetInt64() : 0;

    private static long Counted(JsonElement stats) => Long(stats, "framesRejected") + Long(stats, "handshakesRefused");

    private static IEnumerable<KeyValuePair<string, long>> Reasons(JsonElement after, JsonElement before)
    {
        var was = before.GetProperty("refusedByReason").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
        foreach (var p in after.GetProperty("refusedByReason").EnumerateObject())
        {
            var d = p.Value.GetInt64() - was.GetValueOrDefault(p.Name);
            if (d != 0) yield return new(p.Name, d);
        }
    }

    private static async Task<JsonElement> StatsAsync(LineProcess b, bool gc = false, bool resetPeaks = true)
    {
        var answer = await b.RequestAsync(new { cmd = "stats", gc, resetPeaks }, Ask, "stats").ConfigureAwait(false);
        if (answer.Kind != "stats") throw new InvalidOperationException($"b: {answer.Line}");
        return answer.Json;
    }

    /// <summary>Polls b's stats until the condition holds (true) or the time is up (false).</summary>
    private static async Task<bool> WaitForAsync(LineProcess b, Func<JsonElement, bool> condition, TimeSpan timeout)
    {
        var deadline = Clock.Now() + timeout.TotalMilliseconds;
        while (true)
        {
            var s = await StatsAsync(b, resetPeaks: false).ConfigureAwait(false);
            if (condition(s)) return true;
            if (Clock.Now() > deadline) return false;
            await Task.Delay(200).ConfigureAwait(false);
        }
    }
}
