using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Messenger.Stress;

/// <summary>What a stranger got back from the attacked node, by frame type.</summary>
internal sealed class Replies
{
    private long _handshakes, _refuses, _resets, _other;

    public long Handshakes => Interlocked.Read(ref _handshakes);
    public long Refuses => Interlocked.Read(ref _refuses);
    public long Resets => Interlocked.Read(ref _resets);
    public long Other => Interlocked.Read(ref _other);

    public void Count(ReadOnlySpan<byte> message)
    {
        if (message.Length >= 3 && message[0] == 0x4D && message[1] is 1 or 2)
        {
            switch (message[2])
            {
                case 0x0F: Interlocked.Increment(ref _handshakes); return;
                case 0x03: Interlocked.Increment(ref _refuses); return;
                case 0x0E: Interlocked.Increment(ref _resets); return;
            }
        }
        Interlocked.Increment(ref _other);
    }

    /// <summary>Reads a connection until it closes, counting what it carries.</summary>
    public async Task DrainAsync(Socket socket)
    {
        var reader = new ZmtpReader(Count);
        var buffer = new byte[8192];
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (n == 0) return;
                reader.Feed(buffer.AsSpan(0, n));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidDataException)
        {
        }
    }
}

/// <summary>
/// Half-open handshakes: connections that each send a well-formed HELLO (a real Noise message 1 under the right
/// cluster name, but no cluster key behind it) and never send message 3. Opened in waves of <c>window</c>
/// connections held open for <c>hold</c>, then closed (FIN), so that at most a window's worth of descriptors is
/// open on either side at a time.
/// </summary>
internal sealed class HalfOpenFlood(IPEndPoint target, string cluster, int total, int window, TimeSpan hold)
{
    public Replies Replies { get; } = new();
    public long Opened;
    public long ConnectFailures;
    public long HellosSent;
    public int PeakOpen;
    public TimeSpan Elapsed;

    private byte[][]? _hellos;

    /// <summary>A fresh ephemeral key per HELLO, computed before the attack (X25519 costs the attacker, not the node).</summary>
    public void Prepare()
    {
        var hellos = new byte[total][];
        Parallel.For(0, total, i => hellos[i] = Zmtp.Frame(NoiseHello.Frame(cluster)));
        _hellos = hellos;
    }

    /// <summary>Seconds spent opening each wave (connect + greeting + HELLO) and closing it.</summary>
    public List<(double Open, double Close)> Waves { get; } = [];

    /// <summary>Waves whose HELLOs the node had not all read (refused for rate or answered) when they were closed.</summary>
    public int WavesNotFullyRead;

    /// <summary>Runs the waves. A wave is closed after <c>hold</c> once the node has read every HELLO of it: each
    /// one is either refused for rate (<paramref name="rateLimited"/>, the node's counter) or answered with
    /// message 2 (counted here); closing earlier would let the kernel or NetMQ drop HELLOs the node never saw.</summary>
    public async Task RunAsync(Func<Task<long>> rateLimited, CancellationToken cancellationToken)
    {
        if (_hellos is null) Prepare();
        var hellos = _hellos!;
        var watch = Stopwatch.StartNew();
        using var connects = new SemaphoreSlim(window); // a whole wave at once: as fast as the node accepts
        for (var start = 0; start < total && !cancellationToken.IsCancellationRequested; start += window)
        {
            var count = Math.Min(window, total - start);
            var sockets = new Socket?[count];
            var drains = new Task[count];
            var opens = Enumerable.Range(0, count).Select(async i =>
            {
                await connects.WaitAsync(cancellationToken).ConfigureAwait(false);
                var socket = Zmtp.NewSocket();
                try
                {
                    await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
                    await socket.SendAsync((byte[])[.. Zmtp.Opening, .. hellos[start + i]], SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    Interlocked.Increment(ref Opened);
                    Interlocked.Increment(ref HellosSent);
                    sockets[i] = socket;
                    drains[i] = Replies.DrainAsync(socket);
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException)
                {
                    Interlocked.Increment(ref ConnectFailures);
                    socket.Dispose();
                    drains[i] = Task.CompletedTask;
                }
                finally
                {
                    connects.Release();
                }
            });
            var waveStart = watch.Elapsed.TotalSeconds;
            var limited0 = await rateLimited().ConfigureAwait(false);
            var answered0 = Replies.Handshakes;
            await Task.WhenAll(opens).ConfigureAwait(false);
            var opened = watch.Elapsed.TotalSeconds;
            PeakOpen = Math.Max(PeakOpen, sockets.Count(s => s is not null));
            try
            {
                await Task.Delay(hold, cancellationToken).ConfigureAwait(false);
                var readBy = Stopwatch.StartNew();
                while (await rateLimited().ConfigureAwait(false) - limited0 + Replies.Handshakes - answered0 < sockets.Count(x => x is not null))
                {
                    if (readBy.Elapsed.TotalSeconds > 20)
                    {
                        WavesNotFullyRead++;
                        break;
                    }
                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
            }
            var closing = watch.Elapsed.TotalSeconds;
            foreach (var s in sockets) s?.Dispose();
            await Task.WhenAll(drains).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
            Waves.Add((opened - waveStart, watch.Elapsed.TotalSeconds - closing));
        }
        Elapsed = watch.Elapsed;
    }
}

/// <summary>The kinds of frames the frame flood sends.</summary>
internal enum FloodKind
{
    RandomBytes,
    HelloRandomMessage,
    HelloWrongCluster,
    HelloMalformed,
    HelloBitFlipped,
    HandshakeRandom,
    SealedRandom,
    SealedBroadcastRandom,
    Protocol1,
}

/// <summary>
/// Random and mutated frames on a few stranger connections, written as fast as the node takes them (TCP and
/// ZeroMQ's high-water marks push back): random bytes; and valid-looking protocol 2 envelopes (version byte 2) of
/// types HELLO 0x01 (random message 1, wrong cluster, malformed, a real one with one bit flipped), HANDSHAKE 0x0F
/// and SEALED 0x10 with random contents, SEALED_BROADCAST 0x11, and protocol 1 frames. Replies (REFUSE, RESET)
/// are read and counted.
/// </summary>
internal sealed class FrameFlood(IPEndPoint target, string cluster, long total, int connections)
{
    private readonly long[] _byKind = new long[Enum.GetValues<FloodKind>().Length];

    public Replies Replies { get; } = new();
    public long FramesSent;
    public long BytesSent;
    public TimeSpan Elapsed;

    public long Sent(FloodKind kind) => Interlocked.Read(ref _byKind[(int)kind]);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var real = NoiseHello.Frame(cluster);
        var watch = Stopwatch.StartNew();
        var per = total / connections;
        var sent = new TaskCompletionSource[connections];
        for (var i = 0; i < connections; i++) sent[i] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _connections = Enumerable.Range(0, connections).Select(i =>
            Task.Run(() => ConnectionAsync(i, i == connections - 1 ? total - per * (connections - 1) : per, real, sent[i], cancellationToken))).ToList();
        // Done when every frame is written (the connections stay open until CloseAsync), or when one connection failed.
        await Task.WhenAny(Task.WhenAll(sent.Select(s => s.Task)), Task.WhenAny(_connections)).ConfigureAwait(false);
        foreach (var c in _connections.Where(c => c.IsFaulted)) await c.ConfigureAwait(false);
        Elapsed = watch.Elapsed;
    }

    private List<Task> _connections = [];

    private async Task ConnectionAsync(int index, long quota, byte[] realHello, TaskCompletionSource done, CancellationToken cancellationToken)
    {
        using var socket = Zmtp.NewSocket();
        await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
        await socket.SendAsync(Zmtp.Opening, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        var drain = Replies.DrainAsync(socket);
        var random = new Random(7919 * (index + 1));
        var chunk = new byte[64 * 1024];
        var frame = new byte[300];
        var clusterBytes = Encoding.UTF8.GetBytes(cluster);
        long sent = 0;
        while (sent < quota && !cancellationToken.IsCancellationRequested)
        {
            var used = 0;
            var inChunk = 0;
            while (sent + inChunk < quota && used + 2 + 255 <= chunk.Length)
            {
                var (kind, length) = Make(random, frame, clusterBytes, realHello);
                used += Zmtp.WriteFrame(chunk.AsSpan(used), frame.AsSpan(0, length));
                Interlocked.Increment(ref _byKind[(int)kind]);
                inChunk++;
            }
            await socket.SendAsync(chunk.AsMemory(0, used), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            sent += inChunk;
            Interlocked.Add(ref FramesSent, inChunk);
            Interlocked.Add(ref BytesSent, used);
        }
        // Keep the connection until the node has read everything (the caller waits for its counters), then close.
        done.TrySetResult();
        await _closeSignal.Task.ConfigureAwait(false);
        socket.Close();
        await drain.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
    }

    private readonly TaskCompletionSource _closeSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Closes the stranger connections (after the node has read what they sent).</summary>
    public async Task CloseAsync()
    {
        _closeSignal.TrySetResult();
        try
        {
            await Task.WhenAll(_connections).WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or TimeoutException or OperationCanceledException)
        {
        }
    }

    private static (FloodKind Kind, int Length) Make(Random random, byte[] frame, byte[] cluster, byte[] realHello)
    {
        var roll = random.Next(100);
        FloodKind kind = roll switch
        {
            < 30 => FloodKind.RandomBytes,
            < 40 => FloodKind.HelloRandomMessage,
            < 44 => FloodKind.HelloWrongCluster,
            < 48 => FloodKind.HelloMalformed,
            < 56 => FloodKind.HelloBitFlipped,
            < 70 => FloodKind.HandshakeRandom,
            < 90 => FloodKind.SealedRandom,
            < 95 => FloodKind.SealedBroadcastRandom,
            _ => FloodKind.Protocol1,
        };
        int length;
        switch (kind)
        {
            case FloodKind.RandomBytes:
                length = random.Next(1, 201);
                random.NextBytes(frame.AsSpan(0, length));
                break;
            case FloodKind.HelloRandomMessage:
                length = Header(frame, 2, 0x01);
                frame[length++] = (byte)cluster.Length;
                cluster.CopyTo(frame, length);
                length += cluster.Length;
                random.NextBytes(frame.AsSpan(length, 48));
                length += 48;
                break;
            case FloodKind.HelloWrongCluster:
                length = Header(frame, 2, 0x01);
                var name = $"not-{random.Next():x}";
                frame[length++] = (byte)name.Length;
                length += Encoding.ASCII.GetBytes(name, frame.AsSpan(length));
                random.NextBytes(frame.AsSpan(length, 48));
                length += 48;
                break;
            case FloodKind.HelloMalformed:
                length = Header(frame, 2, 0x01);
                var tail = random.Next(0, 120);
                random.NextBytes(frame.AsSpan(length, tail));
                length += tail;
                break;
            case FloodKind.HelloBitFlipped:
                realHello.CopyTo(frame, 0);
                length = realHello.Length;
                var bit = random.Next(length * 8);
                frame[bit / 8] ^= (byte)(1 << (bit % 8));
                break;
            case FloodKind.HandshakeRandom:
                length = Header(frame, 2, 0x0F);
                var hs = random.Next(1, 160);
                random.NextBytes(frame.AsSpan(length, hs));
                length += hs;
                break;
            case FloodKind.SealedRandom:
                length = Header(frame, 2, 0x10);
                var sealedBody = random.Next(0, 200);
                random.NextBytes(frame.AsSpan(length, sealedBody));
                length += sealedBody;
                break;
            case FloodKind.SealedBroadcastRandom:
                length = Header(frame, 2, 0x11);
                var bc = random.Next(0, 120);
                random.NextBytes(frame.AsSpan(length, bc));
                length += bc;
                break;
            default:
                length = Header(frame, 1, (byte)random.Next(0, 0x14));
                var p1 = random.Next(0, 100);
                random.NextBytes(frame.AsSpan(length, p1));
                length += p1;
                break;
        }
        return (kind, length);
    }

    private static int Header(byte[] frame, byte version, byte type)
    {
        frame[0] = 0x4D;
        frame[1] = version;
        frame[2] = type;
        return 3;
    }
}
