using System.Buffers;
using System.Diagnostics;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// Hands the messages of one Send-MessengerMessage or Send-MessengerBroadcast pipeline to the engine in bursts.
/// PowerShell delivers pipeline input one object at a time, a microsecond or so apart; handed over one by one,
/// each message would find the node's sender idle, wake its poller thread and travel alone in its own sealed
/// frame. Kept here until <see cref="BurstSize"/> messages or <see cref="BurstBytes"/> bytes are waiting, and
/// then given to the engine back to back, they travel in shared frames. Nothing waits long: a timer hands over
/// whatever has waited <see cref="MaxDelay"/>, and the end of the pipeline hands over the rest, so a single
/// message, or the last of a stream, leaves at once.
/// </summary>
/// <remarks>Messages keep their order: one lock covers buffering and handing over, whichever thread does it.
/// A failure found on the timer's thread is kept and thrown on the pipeline thread by the next call.</remarks>
internal sealed class SendCoalescer : IDisposable
{
    public const int BurstSize = 256;
    public const int BurstBytes = 64 * 1024;
    public static readonly TimeSpan MaxDelay = TimeSpan.FromMilliseconds(1);

    private readonly Action<ReadOnlyMemory<byte>, MessageContentType, CancellationToken> _send;
    private readonly CancellationToken _cancellation;
    private readonly object _gate = new();
    private readonly List<(int Offset, int Length, MessageContentType Type)> _items = new(BurstSize);
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BurstBytes);
    private int _used;
    private long _firstQueuedAt;
    private Timer? _timer;
    private Exception? _failure;
    private bool _disposed;

    /// <param name="send">Gives one message to the engine (to one or several peers, or as a broadcast), waiting
    /// only when the engine's send queue is full.</param>
    /// <param name="cancellation">Cancels a hand-over that waits for room (Ctrl+C).</param>
    public SendCoalescer(Action<ReadOnlyMemory<byte>, MessageContentType, CancellationToken> send, CancellationToken cancellation)
    {
        _send = send;
        _cancellation = cancellation;
    }

    /// <summary>Keeps a copy of the message; hands the burst over when it is full. Pipeline thread.</summary>
    public void Add(ReadOnlySpan<byte> body, MessageContentType type)
    {
        lock (_gate)
        {
            ThrowIfFailed();
            if (_used + body.Length > _buffer.Length)
            {
                if (_items.Count > 0) FlushLocked();
                if (body.Length > _buffer.Length)
                {
                    ArrayPool<byte>.Shared.Return(_buffer);
                    _buffer = ArrayPool<byte>.Shared.Rent(body.Length);
                }
            }
            if (_items.Count == 0) _firstQueuedAt = Stopwatch.GetTimestamp();
            body.CopyTo(_buffer.AsSpan(_used));
            _items.Add((_used, body.Length, type));
            _used += body.Length;
            if (_items.Count >= BurstSize || _used >= BurstBytes) FlushLocked();
        }
        _timer ??= new Timer(_ => OnTimer(), null, MaxDelay, MaxDelay);
    }

    /// <summary>Hands over everything still waiting, and throws what failed meanwhile. Pipeline thread.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            ThrowIfFailed();
            FlushLocked();
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
            _items.Clear();
        }
    }

    private void OnTimer()
    {
        if (!Monitor.TryEnter(_gate)) return; // the pipeline thread is handing over: nothing to do
        try
        {
            if (_disposed || _failure is not null || _items.Count == 0) return;
            if (Stopwatch.GetElapsedTime(_firstQueuedAt) < MaxDelay) return;
            FlushLocked();
        }
        catch (Exception e)
        {
            _failure = e;
        }
        finally
        {
            Monitor.Exit(_gate);
        }
    }

    private void FlushLocked()
    {
        if (_disposed) return;
        try
        {
            // The engine copies each body when it queues it, so the buffer is free again afterwards.
            foreach (var (offset, length, type) in _items) _send(_buffer.AsMemory(offset, length), type, _cancellation);
        }
        finally
        {
            _items.Clear();
            _used = 0;
        }
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
