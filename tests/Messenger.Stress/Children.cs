using System.Diagnostics;
using System.Text.Json;

namespace Messenger.Stress;

/// <summary>
/// The roles this program plays as a child process (--child &lt;role&gt;), talking JSON lines on stdin and stdout:
/// "target", the member node the flood attacks, in a process of its own so that its memory is its own; and "burn",
/// busy threads that load every core. A child ends at the end of its stdin, so it never outlives the run.
/// </summary>
internal static class Children
{
    private static readonly Lock OutGate = new();

    private static void Emit(string kind, Action<Utf8JsonWriter>? fields = null)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("event", kind);
            json.WriteNumber("ts", Math.Round(Clock.Now(), 3));
            fields?.Invoke(json);
            json.WriteEndObject();
        }
        var line = System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
        lock (OutGate)
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }

    public static Task<int> RunAsync(string role, Args args) => role switch
    {
        "target" => TargetAsync(args),
        "burn" => Task.FromResult(Burn(args)),
        _ => throw new ArgumentException($"unknown child role '{role}'"),
    };

    /// <summary>Busy threads (--threads, default two per core) for --seconds at most, or until stdin ends.</summary>
    private static int Burn(Args args)
    {
        var threads = args.Int("threads", Environment.ProcessorCount * 2);
        var seconds = args.Int("seconds", 60);
        var stop = 0;
        var workers = Enumerable.Range(0, threads).Select(i => new Thread(() =>
        {
            var x = 1UL;
            while (Volatile.Read(ref stop) == 0)
            {
                for (var k = 0; k < 100_000; k++) x = x * 6364136223846793005UL + 1442695040888963407UL;
            }
            GC.KeepAlive(x);
        }) { IsBackground = true, Name = $"burn-{i}" }).ToList();
        foreach (var w in workers) w.Start();
        Emit("burning", j => j.WriteNumber("threads", threads));
        var input = new Thread(() =>
        {
            try
            {
                while (Console.In.ReadLine() is { } line && line.Trim() != "stop") { }
            }
            catch (IOException)
            {
            }
            Volatile.Write(ref stop, 1);
        }) { IsBackground = true };
        input.Start();
        var deadline = Stopwatch.StartNew();
        while (Volatile.Read(ref stop) == 0 && deadline.Elapsed.TotalSeconds < seconds) Thread.Sleep(100);
        Volatile.Write(ref stop, 1);
        foreach (var w in workers) w.Join();
        Emit("stopped");
        return 0;
    }

    /// <summary>
    /// The attacked member: a node (--name, --cluster, --cluster-key) on 127.0.0.1 with the beacon on lo. It reads
    /// every message, checks that unicast from --member arrives in sequence (1, 2, 3, ... with no gap), counts
    /// anything from anyone else, reports peer events, and answers {"cmd":"stats"} with its counters and its
    /// process's memory (GC heap, working set, and their peaks since the last reset).
    /// </summary>
    private static async Task<int> TargetAsync(Args args)
    {
        var member = args.Get("member") ?? "a";
        var options = MessengerNodeOptions.Default with
        {
            Name = args.Get("name") ?? "b",
            Cluster = args.Get("cluster") ?? throw new ArgumentException("--cluster is needed"),
            ClusterKey = ClusterKey.FromBase64(args.Get("cluster-key") ?? throw new ArgumentException("--cluster-key is needed")),
            KeyPair = MessengerKeyPair.Generate(),
            BindAddress = "127.0.0.1",
            BeaconInterface = "lo",
        };
        await using var node = await MessengerNode.StartAsync(options).ConfigureAwait(false);
        node.PeerUnreachable += (_, e) => Emit("unreachable", j => { j.WriteString("peer", e.Peer.Name); j.WriteString("reason", e.Reason); });
        node.PeerLeft += (_, e) => Emit("left", j => { j.WriteString("peer", e.Peer.Name); j.WriteString("reason", e.Reason); });
        node.PeerJoined += (_, e) => Emit("joined", j => j.WriteString("peer", e.Peer.Name));
        node.ActorRestarted += (_, e) => Emit("restarted", j => { j.WriteString("actor", e.Actor); j.WriteString("cause", e.Cause); });
        node.Faulted += (_, e) => Emit("faulted", j => { j.WriteString("actor", e.Actor); j.WriteString("cause", e.Cause); });

        // Refusals by reason, from the node's own metrics (meter "Messenger", tag "reason").
        var refused = new System.Collections.Concurrent.ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        using var meters = new System.Diagnostics.Metrics.MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Messenger" && instrument.Name == "messenger.handshakes.refused") listener.EnableMeasurementEvents(instrument);
        };
        meters.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var reason = "unknown";
            foreach (var t in tags)
            {
                if (t.Key == "reason") reason = t.Value?.ToString() ?? "unknown";
            }
            refused.AddOrUpdate(reason, value, (_, n) => n + value);
        });
        meters.Start();

        long fromMember = 0, lastSequence = 0, gaps = 0, strangers = 0, broadcasts = 0;
        long peakWorkingSet = 0, peakHeap = 0;
        using var stop = new CancellationTokenSource();

        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var m in node.ReadAllAsync(stop.Token).ConfigureAwait(false))
                {
                    if (m.From != member)
                    {
                        Interlocked.Increment(ref strangers);
                        continue;
                    }
                    if (m.Kind != MessageKind.Unicast)
                    {
                        Interlocked.Increment(ref broadcasts);
                        continue;
                    }
                    if (m.Sequence != lastSequence + 1) Interlocked.Increment(ref gaps);
                    Volatile.Write(ref lastSequence, m.Sequence);
                    Interlocked.Increment(ref fromMember);
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        var sampler = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var ws = Environment.WorkingSet;
                var heap = GC.GetTotalMemory(false);
                if (ws > Interlocked.Read(ref peakWorkingSet)) Interlocked.Exchange(ref peakWorkingSet, ws);
                if (heap > Interlocked.Read(ref peakHeap)) Interlocked.Exchange(ref peakHeap, heap);
                Thread.Sleep(100);
            }
        }) { IsBackground = true, Name = "memory sampler" };
        sampler.Start();

        Emit("started", j =>
        {
            j.WriteString("name", node.Name);
            j.WriteString("endpoint", node.Endpoint);
            j.WriteString("id", node.Id);
            j.WriteNumber("pid", Environment.ProcessId);
        });

        var lines = new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true };
        var input = System.Threading.Channels.Channel.CreateUnbounded<string>(lines);
        var stdin = new Thread(() =>
        {
            try
            {
                while (Console.In.ReadLine() is { } line) input.Writer.TryWrite(line);
            }
            catch (IOException)
            {
            }
            input.Writer.TryComplete();
        }) { IsBackground = true, Name = "stdin" };
        stdin.Start();

        await foreach (var line in input.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (line.Trim() == "stop") break;
            JsonElement command;
            try
            {
                using var doc = JsonDocument.Parse(line);
                command = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                Emit("error", j => j.WriteString("message", e.Message));
                continue;
            }
            var id = command.TryGetProperty("id", out var idValue) ? idValue.GetString() : null;
            var cmd = command.TryGetProperty("cmd", out var c) ? c.GetString() : null;
            switch (cmd)
            {
                case "wait":
                    try
                    {
                        await node.WaitForPeersAsync([member], TimeSpan.FromSeconds(30)).ConfigureAwait(false);
                        Emit("waited", j => j.WriteString("requestId", id));
                    }
                    catch (MessengerException e)
                    {
                        Emit("error", j => { j.WriteString("message", e.Message); j.WriteString("requestId", id); });
                    }
                    break;
                case "stats":
                    if (command.TryGetProperty("gc", out var gc) && gc.GetBoolean())
                    {
                        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                        GC.WaitForPendingFinalizers();
                        GC.Collect();
                    }
                    var s = node.Statistics;
                    var peer = node.GetPeer(member);
                    var (fd, threads) = ProcessFigures();
                    Emit("stats", j =>
                    {
                        j.WriteString("requestId", id);
                        j.WriteNumber("framesReceived", s.FramesReceived);
                        j.WriteNumber("framesRejected", s.FramesRejected);
                        j.WriteNumber("handshakesRefused", s.HandshakesRefused);
                        j.WriteNumber("messagesReceived", s.MessagesReceived);
                        j.WriteNumber("messagesDropped", s.MessagesDropped);
                        j.WriteNumber("bytesReceived", s.BytesReceived);
                        j.WriteNumber("fromMember", Interlocked.Read(ref fromMember));
                        j.WriteNumber("lastSequence", Volatile.Read(ref lastSequence));
                        j.WriteNumber("gaps", Interlocked.Read(ref gaps));
                        j.WriteNumber("strangers", Interlocked.Read(ref strangers));
                        j.WriteNumber("broadcasts", Interlocked.Read(ref broadcasts));
                        j.WriteString("memberState", peer?.State.ToString() ?? "none");
                        j.WriteNumber("gcHeap", GC.GetTotalMemory(false));
                        j.WriteNumber("workingSet", Environment.WorkingSet);
                        j.WriteNumber("peakGcHeap", Interlocked.Read(ref peakHeap));
                        j.WriteNumber("peakWorkingSet", Interlocked.Read(ref peakWorkingSet));
                        j.WriteNumber("fds", fd);
                        j.WriteNumber("threads", threads);
                        j.WriteNumber("cpuMs", (long)Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds);
                        j.WriteString("lastError", node.LastError);
                        j.WriteString("state", node.State.ToString());
                        j.WriteNumber("restarts", node.Restarts);
                        j.WriteStartObject("refusedByReason");
                        foreach (var (reason, n) in refused.OrderBy(r => r.Key, StringComparer.Ordinal)) j.WriteNumber(reason, n);
                        j.WriteEndObject();
                    });
                    if (command.TryGetProperty("resetPeaks", out var reset) && reset.GetBoolean())
                    {
                        Interlocked.Exchange(ref peakWorkingSet, Environment.WorkingSet);
                        Interlocked.Exchange(ref peakHeap, GC.GetTotalMemory(false));
                    }
                    break;
                default:
                    Emit("error", j => { j.WriteString("message", $"unknown command '{cmd}'"); j.WriteString("requestId", id); });
                    break;
            }
        }
        await stop.CancelAsync().ConfigureAwait(false);
        await reader.ConfigureAwait(false);
        sampler.Join();
        Emit("stopped");
        return 0;
    }

    /// <summary>Open file descriptors and threads of this process (Linux /proc), -1 where unknown.</summary>
    public static (int Fds, int Threads) ProcessFigures()
    {
        try
        {
            return (Directory.GetFileSystemEntries("/proc/self/fd").Length, Process.GetCurrentProcess().Threads.Count);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return (-1, -1);
        }
    }
}
