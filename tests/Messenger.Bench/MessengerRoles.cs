using System.Diagnostics;

namespace Messenger.Bench;

/// <summary>
/// The same jobs through Messenger's public API: each method is the whole life of one child process holding
/// one node. Nodes bind 127.0.0.1, announce on the loopback beacon in a cluster of their own, and are also given
/// a seed so that they meet at once.
/// </summary>
internal static class MessengerRoles
{
    public static MessengerNodeOptions NodeOptions(Args a) => MessengerNodeOptions.Default with
    {
        Name = a.Require("name"),
        Cluster = a.Require("cluster"),
        BindAddress = "127.0.0.1",
        BeaconInterface = "lo",
        BeaconEnabled = !a.Has("no-beacon"),
        Insecure = a.Has("insecure"),
        Seeds = a.Get("seed") is { } seed ? [seed] : [],
        ReceiveQueueCapacity = a.Int("receive-capacity", MessengerNodeOptions.Default.ReceiveQueueCapacity),
        LoggerFactory = new StderrLoggerFactory(Enum.Parse<Microsoft.Extensions.Logging.LogLevel>(a.Get("log-level") ?? "Warning", ignoreCase: true)),
    };

    /// <summary>A node that counts warm-up then measured messages of one kind as ReadAllAsync yields them, checks
    /// that their sequence numbers have no gaps, and reports the measured window and the node's drop counter.</summary>
    public static async Task<int> ReceiveAsync(Args a)
    {
        var size = a.Int("size", 64);
        var warmup = a.Long("warmup", 1);
        // After the warm-up and the settling (see JitSettle), the window runs from the first measured message to the
        // last: one more. Without settling (--no-settle: a sender that does not pause after its warm-up), it runs from
        // the last warm-up message.
        var settle = !a.Has("no-settle");
        var first = settle ? warmup + 1 : warmup;
        var total = first + a.Long("count", 1);
        var kind = a.Get("kind") == "broadcast" ? MessageKind.Broadcast : MessageKind.Unicast;
        await using var node = await MessengerNode.StartAsync(NodeOptions(a)).ConfigureAwait(false);
        ParentLink.Say("ready", ("endpoint", node.Endpoint));

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ParentLink.Stopping);
        timeout.CancelAfter(TimeSpan.FromSeconds(a.Long("timeout", 60)));
        // A drop makes the run worthless (and its last message may never come): the first one ends it.
        string? dropReason = null;
        node.MessageDropped += (_, e) =>
        {
            Interlocked.CompareExchange(ref dropReason, $"{e.Reason} (peer {e.Peer})", null);
            try
            {
                timeout.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        };
        long n = 0, last = 0, lost = 0, disordered = 0;
        var start = default(Probe);
        var startStats = node.Statistics;
        try
        {
            await foreach (var m in node.ReadAllAsync(timeout.Token).ConfigureAwait(false))
            {
                if (m.Kind != kind) continue;
                if (m.Body.Length != size)
                {
                    ParentLink.Fail($"a body of {m.Body.Length} bytes, expected {size}");
                    return 1;
                }
                // One sender, started after this node: sequence numbers run 1, 2, 3 ... and a gap is a lost message.
                // Warm-up rounds and the window are marked by sequence number, so that a gap cannot hide them. A
                // number read before (a duplicate, or one out of order) is counted apart: it must not cancel a gap.
                if (m.Sequence <= last)
                {
                    disordered++;
                    continue;
                }
                if (m.Sequence != last + 1) lost += m.Sequence - last - 1;
                var before = last;
                last = m.Sequence;
                n++;
                if (settle && JitSettle.EndsRound(before, last, warmup)) ParentLink.Say("warmed", JitSettle.Wait());
                if (before < first && last >= first)
                {
                    start = Probe.Take();
                    startStats = node.Statistics;
                }
                if (last >= total) break;
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            if (ParentLink.Stopping.IsCancellationRequested) return 1; // the orchestrator gave up on this run
            var s = node.Statistics;
            if (Volatile.Read(ref dropReason) is { } reason)
            {
                ParentLink.Fail($"node {node.Name} dropped messages: {reason}, after {n} of {total} messages (warm-up included) were read; Statistics.MessagesDropped={s.MessagesDropped}, ReceiveQueueCapacity={node.Options.ReceiveQueueCapacity}, {lost} lost in sequence gaps, {disordered} duplicate or out of order. A throughput that drops is not a throughput");
                return 1;
            }
            var peers = string.Join(", ", node.GetPeers().Select(p => $"{p.Name} {p.State}"));
            ParentLink.Fail($"timed out with {n} of {total} messages (warm-up included) read; last sequence {last}, {lost} lost in gaps, {disordered} duplicate or out of order; node counted {s.MessagesReceived} received, {s.MessagesDropped} dropped, {s.FramesReceived} frames received, {s.FramesRejected} frames rejected; {node.PendingReceiveCount} waiting in its queue; peers: {peers}");
            return 1;
        }
        var end = Probe.Take();
        var stats = node.Statistics;
        ParentLink.Say(
            "done",
            end.Since(start),
            ("received", n - first),
            ("lost", lost),
            ("disordered", disordered),
            ("dropped", stats.MessagesDropped),
            ("frames", stats.FramesReceived - startStats.FramesReceived),
            ("rejected", stats.FramesRejected));
        await ParentLink.WaitForStopAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>A node that waits for its peers, then on each "send N" sends (or broadcasts) N bodies as fast as
    /// SendAsync/BroadcastAsync take them.</summary>
    public static async Task<int> SendAsync(Args a)
    {
        var body = new byte[a.Int("size", 64)];
        var to = a.Get("to");
        var peers = a.Get("peers")?.Split(',', StringSplitOptions.RemoveEmptyEntries) ?? (to is null ? [] : [to]);
        var begin = Stopwatch.GetTimestamp();
        await using var node = await MessengerNode.StartAsync(NodeOptions(a)).ConfigureAwait(false);
        ParentLink.Say("started", ("endpoint", node.Endpoint));
        await node.WaitForPeersAsync(peers, TimeSpan.FromSeconds(a.Long("timeout", 60))).ConfigureAwait(false);
        ParentLink.Say("ready", ("connect_ms", Math.Round(Stopwatch.GetElapsedTime(begin).TotalMilliseconds, 1)));
        while (await ParentLink.NextCommandAsync().ConfigureAwait(false) is var command && command != "stop")
        {
            if (NetMqRoles.Settled(command)) continue;
            var count = NetMqRoles.ParseSend(command);
            var before = node.Statistics;
            var start = Probe.Take();
            long i = 0;
            try
            {
                if (to is null)
                {
                    for (; i < count; i++) await node.BroadcastAsync(body).ConfigureAwait(false);
                }
                else
                {
                    for (; i < count; i++) await node.SendAsync(to, body).ConfigureAwait(false);
                }
            }
            catch (MessengerException e)
            {
                var s = node.Statistics;
                ParentLink.Fail($"{e.GetType().Name} after {i} of {count} messages: {e.Message}; node {node.Name} is {node.State}; process peak RSS {Probe.PeakRssMb()} MB, "
                    + $"{GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)} collections, {GC.GetTotalPauseDuration().TotalMilliseconds:0} ms paused in all; node sent {s.FramesSent} frames, dropped {s.MessagesDropped}");
                return 1;
            }
            var end = Probe.Take();
            var stats = node.Statistics;
            ParentLink.Say("sent", end.Since(start), ("count", count), ("frames", stats.FramesSent - before.FramesSent), ("dropped", stats.MessagesDropped));
        }
        ParentLink.Say("final", ("dropped", node.Statistics.MessagesDropped));
        return 0;
    }

    /// <summary>A node whose reader sends every unicast message straight back to its sender.</summary>
    public static async Task<int> EchoAsync(Args a)
    {
        await using var node = await MessengerNode.StartAsync(NodeOptions(a)).ConfigureAwait(false);
        ParentLink.Say("ready", ("endpoint", node.Endpoint));
        try
        {
            await foreach (var m in node.ReadAllAsync(ParentLink.Stopping).ConfigureAwait(false))
            {
                if (m.Kind == MessageKind.Unicast) await node.SendAsync(m.From, m.Body).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ParentLink.Stopping.IsCancellationRequested)
        {
        }
        ParentLink.Say("final", ("dropped", node.Statistics.MessagesDropped), ("direct", node.Statistics.MessagesSentDirect), ("sent", node.Statistics.MessagesSent), ("acks_on_link", node.Runtime.AcksSent.OnLink), ("acks_in_data", node.Runtime.AcksSent.InData));
        return 0;
    }

    /// <summary>On "run", again and again a new node (a new identity) joins the node at --seed with ConnectAsync;
    /// the clock runs from ConnectAsync to its return, when the peer is connected: the TCP connection, the Noise
    /// handshake, WELCOME and the broadcast probes both ways. Starting and stopping the node are outside it.</summary>
    public static async Task<int> HandshakeAsync(Args a)
    {
        var warmup = a.Int("warmup", 10);
        var count = a.Int("count", 100);
        var seed = a.Require("seed");
        var timeout = TimeSpan.FromSeconds(a.Long("timeout", 60));
        var options = NodeOptions(a) with { BeaconEnabled = false, Seeds = [] };
        ParentLink.Say("ready");
        if (await ParentLink.NextCommandAsync().ConfigureAwait(false) != "run") return 0;
        var samples = new long[count];
        var start = default(Probe);
        for (var i = 0; i < warmup + count; i++)
        {
            if (i == warmup) start = Probe.Take();
            // A fresh key each time: nothing of an earlier session can be reused.
            await using var node = await MessengerNode.StartAsync(options with { Name = $"{options.Name}-{i}", KeyPair = MessengerKeyPair.Generate() }).ConfigureAwait(false);
            var t0 = Stopwatch.GetTimestamp();
            await node.ConnectAsync(seed, timeout).ConfigureAwait(false);
            var t1 = Stopwatch.GetTimestamp();
            if (i >= warmup) samples[i - warmup] = t1 - t0;
        }
        var end = Probe.Take();
        ParentLink.Say("done", [.. end.Since(start), .. Latency.Summarize(samples)]);
        await ParentLink.WaitForStopAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>The client of <see cref="EchoAsync"/>: on "run", one message in flight at a time; the clock runs
    /// from SendAsync to the echo coming out of ReadAsync.</summary>
    public static async Task<int> RoundTripAsync(Args a)
    {
        var payload = new byte[a.Int("size", 64)];
        var warmup = a.Int("warmup", 1000);
        var count = a.Int("count", 10000);
        var to = a.Require("to");
        await using var node = await MessengerNode.StartAsync(NodeOptions(a)).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ParentLink.Stopping);
        timeout.CancelAfter(TimeSpan.FromSeconds(a.Long("timeout", 60)));
        await node.WaitForPeersAsync([to], TimeSpan.FromSeconds(a.Long("timeout", 60))).ConfigureAwait(false);
        ParentLink.Say("ready");
        if (await ParentLink.NextCommandAsync().ConfigureAwait(false) != "run") return 0;

        return await RoundTripLoop.RunAsync(payload.Length, warmup, count, async _ =>
        {
            try
            {
                await node.SendAsync(to, payload, cancellationToken: timeout.Token).ConfigureAwait(false);
                return (await node.ReadAsync(timeout.Token).ConfigureAwait(false)).Body.Length;
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                return -1;
            }
        }, () => [("dropped", node.Statistics.MessagesDropped), ("direct", node.Statistics.MessagesSentDirect)]).ConfigureAwait(false);
    }
}
