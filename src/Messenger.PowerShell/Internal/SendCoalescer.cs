using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// Hands the messages of one Send-MessengerMessage or Send-MessengerBroadcast pipeline to the engine in bursts.
/// PowerShell delivers pipeline input one object at a time, a microsecond or two apart; handed over one by one,
/// each message would find the node's sender idle, ring its doorbell, wake its poller thread and travel in a
/// small frame of its own. Kept here (strings encoded straight into the burst buffer) and given to the engine
/// back to back, they travel in full frames: the sender's poller, the receiver and both I/O threads then work
/// per frame, not per message.
/// </summary>
/// <remarks>
/// <para>Light traffic is not delayed: a message that comes when nothing was handed over for
/// <see cref="MaxDelay"/> goes at once, alone. Under a stream, a burst goes when it holds
/// <see cref="BurstBytes"/> or <see cref="MaxBurstMessages"/>, or when a new message finds its first one
/// <see cref="MaxDelay"/> old, and the rest when the pipeline ends.</para>
/// <para>While a stream flows, the pipeline thread alone does all this; no other thread wakes. A one-shot timer,
/// pushed back at each new burst, fires only when the input pauses with a burst waiting: it then hands the burst
/// over itself, <see cref="StallDelay"/> at most after its first message came. (A periodic timer cost more than
/// the hand-overs: a thread-pool thread woke and spun every millisecond.) Messages keep their order: one lock
/// covers buffering and handing over. A failure found on the timer's thread is kept and thrown on the pipeline
/// thread by the next call.</para>
/// <para>The per-message methods are compiled fully optimized at once (AggressiveOptimization): tiered compilation
/// took a few hundred thousand messages to promote them on a busy two-core machine, the slowest part of a pipeline's
/// first million.</para>
/// </remarks>
internal sealed class SendCoalescer : IDisposable
{
    /// <summary>Bodies per burst, at most: about one engine frame of small messages.</summary>
    public const int BurstBytes = 64 * 1024;

    /// <summary>Messages per burst, at most (tiny bodies).</summary>
    public const int MaxBurstMessages = 4096;

    public static readonly TimeSpan MaxDelay = TimeSpan.FromMilliseconds(1);

    /// <summary>How long a burst waits, at most, when the pipeline's input pauses.</summary>
    public static readonly TimeSpan StallDelay = TimeSpan.FromMilliseconds(2);

    private static readonly long MaxDelayTicks = (long)(MaxDelay.TotalSeconds * Stopwatch.Frequency);

    // The age of a burst is read every few messages, not at each: a clock read costs more than the rest of a
    // message's bookkeeping here.
    private const int AgeCheckMask = 7;

    private readonly MessengerNode _engine;
    private readonly string? _target;
    private readonly string? _topic;
    private readonly CancellationToken _cancellation;
    private readonly Lock _gate = new();

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BurstBytes);
    private OutgoingMessage[] _items = new OutgoingMessage[16];
    private int _count;
    private int _used;
    private long _firstQueuedAt;
    private long _lastHandOverAt;
    private Timer? _timer;
    private Exception? _failure;
    private List<MessageTooLargeException>? _refused;
    private volatile bool _hasRefused;
    private bool _disposed;

    /// <param name="engine">The node that sends.</param>
    /// <param name="target">The peer each message goes to; null broadcasts it.</param>
    /// <param name="topic">The topic of every message, or null.</param>
    /// <param name="cancellation">Cancels a hand-over that waits for room in the engine's queue (Ctrl+C).</param>
    public SendCoalescer(MessengerNode engine, string? target, string? topic, CancellationToken cancellation)
    {
        _engine = engine;
        _target = target;
        _topic = topic;
        _cancellation = cancellation;
    }

    /// <summary>Queues a text message, encoded as UTF-8 straight into the burst. Returns false, queueing nothing,
    /// when its encoding is larger than <paramref name="limit"/>; <paramref name="size"/> is then that size.
    /// Pipeline thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryAddText(string text, int limit, out int size)
    {
        lock (_gate)
        {
            ThrowIfFailed();
            if (Encoding.UTF8.GetMaxByteCount(text.Length) > _buffer.Length - _used)
            {
                // Only a long string may not fit: count it exactly, then make room.
                size = Encoding.UTF8.GetByteCount(text);
                if (size > limit) return false;
                MakeRoom(size);
            }
            size = Encoding.UTF8.GetBytes(text, _buffer.AsSpan(_used));
            if (size > limit) return false;
            Commit(size, MessageContentType.Text);
        }
        return true;
    }

    /// <summary>Queues a copy of the message. Pipeline thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Add(ReadOnlySpan<byte> body, MessageContentType type)
    {
        lock (_gate)
        {
            ThrowIfFailed();
            if (body.Length > _buffer.Length - _used) MakeRoom(body.Length);
            body.CopyTo(_buffer.AsSpan(_used));
            Commit(body.Length, type);
        }
    }

    /// <summary>True when a hand-over refused messages that <see cref="TakeRefused"/> has not taken: a peer with a
    /// smaller MaxMessageSize than the command saw when it began. Cheap: read after each message.</summary>
    public bool HasRefused => _hasRefused;

    /// <summary>The messages hand-overs refused since the last call, one error each, in order. Pipeline thread.</summary>
    public List<MessageTooLargeException> TakeRefused()
    {
        lock (_gate)
        {
            var refused = _refused ?? [];
            _refused = null;
            _hasRefused = false;
            return refused;
        }
    }

    /// <summary>Hands over everything still waiting, and throws what failed meanwhile. Pipeline thread.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            ThrowIfFailed();
            HandOver();
        }
    }

    public void Dispose()
    {
        _timer?.Dispose();
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            ArrayPool<byte>.Shared.Return(_buffer);
            _count = 0;
        }
    }

    // Under the lock: the body just written at _used becomes a message of the burst.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Commit(int size, MessageContentType type)
    {
        if (_count == _items.Length) Array.Resize(ref _items, _count * 2);
        _items[_count++] = new OutgoingMessage(new ReadOnlyMemory<byte>(_buffer, _used, size), type);
        _used += size;
        if (_count == 1)
        {
            var now = Stopwatch.GetTimestamp();
            _firstQueuedAt = now;
            // Nothing went for a while: no stream to wait for, this one goes at once.
            if (now - _lastHandOverAt >= MaxDelayTicks)
            {
                HandOver();
                return;
            }
            // A stream: should its input pause, the timer sends what waits.
            _timer ??= new Timer(static state => ((SendCoalescer)state!).OnTimer(), this, Timeout.Infinite, Timeout.Infinite);
            _timer.Change(StallDelay, Timeout.InfiniteTimeSpan);
        }
        if (_used >= BurstBytes || _count == MaxBurstMessages
            || ((_count & AgeCheckMask) == 0 && Stopwatch.GetTimestamp() - _firstQueuedAt >= MaxDelayTicks))
        {
            HandOver();
        }
    }

    // Under the lock: room for a body of `size` bytes, by handing the burst over and, for a body larger than the
    // buffer, by taking a larger one.
    private void MakeRoom(int size)
    {
        if (_count > 0) HandOver();
        if (size > _buffer.Length)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(size);
        }
    }

    // The input paused with a burst waiting (or the timer met the pipeline thread at work: look again soon).
    private void OnTimer()
    {
        if (!_gate.TryEnter())
        {
            RetryTimer();
            return;
        }
        try
        {
            if (_disposed || _failure is not null || _count == 0) return;
            HandOver();
        }
        catch (Exception e)
        {
            _failure = e;
        }
        finally
        {
            _gate.Exit();
        }
    }

    private void RetryTimer()
    {
        try
        {
            _timer?.Change(MaxDelay, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // disposed meanwhile: nothing waits any more
        }
    }

    // Under the lock. The burst goes to the engine as one run (one lock, one wake-up of the node's sender, whole
    // frames); the engine copies the bodies as it queues them, so the buffer is free again afterwards. It waits
    // only when a peer's send queue is full.
    private void HandOver()
    {
        if (_disposed || _count == 0) return;
        try
        {
            Queue(_target, new ReadOnlyMemory<OutgoingMessage>(_items, 0, _count));
        }
        finally
        {
            _count = 0;
            _used = 0;
            _lastHandOverAt = Stopwatch.GetTimestamp();
        }
    }

    // Under the lock: one peer's run (null: the broadcast's). The command checked each body against the limits its
    // peers had told when it began; one that joined since, or told a smaller limit, makes the engine refuse the whole
    // run. Then what fits goes, in order, and each body over that limit is refused alone, as the command refuses one
    // over a limit it knew. A run that fits meets a smaller limit yet only from another peer, so this ends.
    private void Queue(string? to, ReadOnlyMemory<OutgoingMessage> run)
    {
        try
        {
            Complete(to is null ? _engine.BroadcastManyAsync(run, _topic, _cancellation) : _engine.SendManyAsync(to, run, _topic, _cancellation));
        }
        catch (MessageTooLargeException refusal) when (refusal.Peer is not null)
        {
            var start = 0;
            for (var i = 0; i <= run.Length; i++)
            {
                if (i < run.Length && run.Span[i].Body.Length <= refusal.Limit) continue;
                if (i > start) Queue(to, run[start..i]);
                if (i < run.Length) (_refused ??= []).Add(new MessageTooLargeException(run.Span[i].Body.Length, refusal.Limit, refusal.Peer));
                start = i + 1;
            }
            _hasRefused = _refused is not null;
        }
    }

    private static void Complete(ValueTask queued)
    {
        // Completed unless the peer's queue is full; the engine's wait honours the cancellation token.
        if (!queued.IsCompletedSuccessfully) queued.AsTask().GetAwaiter().GetResult();
    }

    private void ThrowIfFailed()
    {
        if (_failure is { } failure)
        {
            _failure = null;
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }
}
