using NetMQ;

namespace Messenger.Transport;

/// <summary>
/// NetMQ's buffer pool, as Messenger installs it: batch-sized buffers (16-80 KiB) are recycled, everything else is
/// left to the garbage collector as with NetMQ's default pool.
/// <para>
/// Every batch frame a node sends takes a NetMQ buffer of up to 64 KiB, which NetMQ's I/O thread lets go once the
/// bytes are written. With the default pool each is a fresh array that often lives through a gen-0 collection while
/// it waits in NetMQ's pipe: at 1 KiB a sender spent an eighth of its time in GC pauses (547 of 3,940 ms) and peaked
/// at 461 MB. Small buffers are not pooled: a pooled buffer per 64-byte message made raw NetMQ a fifth slower.
/// </para>
/// <para>
/// The pool is NetMQ's, so it is the process's: it is installed at the first node's start, unless the application
/// sets the AppContext switch <see cref="KeepNetMQDefaultSwitch"/>. The buffers of received batch frames come from it
/// too but are never given back: the delivered messages point into them.
/// </para>
/// </summary>
internal sealed class FrameBufferPool : IBufferPool
{
    /// <summary>AppContext switch: when set, Messenger leaves NetMQ's buffer pool as it is.</summary>
    public const string KeepNetMQDefaultSwitch = "Messenger.KeepNetMQBufferPool";

    public const int MinPooledSize = 16 * 1024;
    public const int Granularity = 4 * 1024;

    /// <summary>Under the large-object heap's 85,000 bytes: a full batch frame and its envelope fit.</summary>
    public const int MaxPooledSize = 80 * 1024;

    /// <summary>What the pool keeps at most, in all its sizes together.</summary>
    public const long MaxRetainedBytes = 8 * 1024 * 1024;

    private static readonly Lock s_installGate = new();
    private static bool s_installed;

    private readonly Stack<byte[]>[] _free;
    private readonly Lock[] _gates;
    private long _retainedBytes;

    public FrameBufferPool()
    {
        var classes = MaxPooledSize / Granularity + 1;
        _free = new Stack<byte[]>[classes];
        _gates = new Lock[classes];
        for (var i = 0; i < classes; i++)
        {
            _free[i] = new Stack<byte[]>();
            _gates[i] = new Lock();
        }
    }

    /// <summary>Bytes held for reuse now.</summary>
    public long RetainedBytes => Interlocked.Read(ref _retainedBytes);

    /// <summary>Installs the pool as NetMQ's, once per process, unless the application opted out.</summary>
    public static void EnsureInstalled()
    {
        if (Volatile.Read(ref s_installed)) return;
        lock (s_installGate)
        {
            if (s_installed) return;
            if (ShouldInstall()) BufferPool.SetCustomBufferPool(new FrameBufferPool());
            Volatile.Write(ref s_installed, true);
        }
    }

    /// <summary>False when the application set <see cref="KeepNetMQDefaultSwitch"/>.</summary>
    internal static bool ShouldInstall() => !AppContext.TryGetSwitch(KeepNetMQDefaultSwitch, out var keep) || !keep;

    public byte[] Take(int size)
    {
        if (size < MinPooledSize || size > MaxPooledSize) return new byte[size];
        var index = (size + Granularity - 1) / Granularity;
        lock (_gates[index])
        {
            if (_free[index].TryPop(out var buffer))
            {
                Interlocked.Add(ref _retainedBytes, -buffer.Length);
                return buffer;
            }
        }
        // Uninitialized: NetMQ writes a whole frame before it reads one, and the tail past a frame is never read.
        return GC.AllocateUninitializedArray<byte>(index * Granularity);
    }

    public void Return(byte[] buffer)
    {
        // Only buffers of the pool's own sizes come back here; any other (a small one, or one of a foreign pool's)
        // is left to the collector.
        var length = buffer.Length;
        if (length < MinPooledSize || length > MaxPooledSize || length % Granularity != 0) return;
        if (Interlocked.Add(ref _retainedBytes, length) > MaxRetainedBytes)
        {
            Interlocked.Add(ref _retainedBytes, -length);
            return;
        }
        var index = length / Granularity;
        lock (_gates[index]) _free[index].Push(buffer);
    }

    public void Dispose()
    {
    }
}
