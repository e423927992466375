using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;

namespace Messenger.Stress;

/// <summary>
/// Acknowledged unicast from one node to a peer at full rate: <c>loops</c> concurrent loops, each awaiting
/// <c>SendAsync(..., requireAck: true)</c> before its next message, so up to <c>loops</c> messages are in flight.
/// Each body starts with a unique 8-byte id. Counts what was acknowledged and what failed; optionally keeps the ids
/// acknowledged (to prove later that every one of them arrived). Stopping lets each loop finish its send.
/// </summary>
internal sealed class Traffic
{
    private readonly MessengerNode _from;
    private readonly string _to;
    private readonly int _size;
    private readonly ConcurrentDictionary<long, byte>? _ackedIds;
    private readonly List<Task> _loops = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<(double Seconds, long Acked)> _samples = [];
    private readonly Lock _gate = new();
    private Timer? _sampler;
    private long _next;
    private long _acked;
    private long _failed;
    private int _stop;

    public Traffic(MessengerNode from, string to, int size = 64, bool trackIds = false, long firstId = 0)
    {
        _from = from;
        _to = to;
        _size = Math.Max(8, size);
        _next = firstId;
        if (trackIds) _ackedIds = new ConcurrentDictionary<long, byte>();
    }

    public long Acked => Interlocked.Read(ref _acked);
    public long Failed => Interlocked.Read(ref _failed);
    public string? LastError { get; private set; }
    public IReadOnlyCollection<long> AckedIds => (IReadOnlyCollection<long>?)_ackedIds?.Keys ?? [];

    /// <summary>Seconds since this object was made (the clock of <see cref="RateBetween"/>).</summary>
    public double Now => _clock.Elapsed.TotalSeconds;

    public void Start(int loops)
    {
        for (var i = 0; i < loops; i++) _loops.Add(Task.Run(LoopAsync));
        _sampler = new Timer(_ => Sample(), null, 0, 100);
    }

    private void Sample()
    {
        lock (_gate) _samples.Add((Now, Acked));
    }

    private async Task LoopAsync()
    {
        while (Volatile.Read(ref _stop) == 0)
        {
            var id = Interlocked.Increment(ref _next);
            var body = new byte[_size];
            BinaryPrimitives.WriteInt64LittleEndian(body, id);
            try
            {
                await _from.SendAsync(_to, body, MessageContentType.Binary, null, requireAck: true).ConfigureAwait(false);
                Interlocked.Increment(ref _acked);
                _ackedIds?.TryAdd(id, 0);
            }
            catch (MessengerException e)
            {
                Interlocked.Increment(ref _failed);
                LastError = $"{e.ErrorId}: {e.Message}";
                if (e is NodeStoppedException) return;
                await Task.Delay(10).ConfigureAwait(false);
            }
        }
    }

    public async Task StopAsync()
    {
        Volatile.Write(ref _stop, 1);
        await Task.WhenAll(_loops).ConfigureAwait(false);
        if (_sampler is not null) await _sampler.DisposeAsync().ConfigureAwait(false);
        Sample();
    }

    /// <summary>Acknowledged messages per second between two readings of <see cref="Now"/>.</summary>
    public double RateBetween(double from, double to)
    {
        lock (_gate)
        {
            var a = At(from);
            var b = At(to);
            return to > from ? (b - a) / (to - from) : double.NaN;
        }
    }

    /// <summary>The lowest rate over any whole second between the two readings.</summary>
    public double MinSecondRate(double from, double to)
    {
        var min = double.PositiveInfinity;
        for (var t = from; t + 1 <= to; t += 0.5) min = Math.Min(min, RateBetween(t, t + 1));
        return double.IsPositiveInfinity(min) ? RateBetween(from, to) : min;
    }

    /// <summary>The rate over each whole second between the two readings, for the console.</summary>
    public string Series(double from, double to)
    {
        var parts = new List<string>();
        for (var t = from; t < to; t += 1) parts.Add((RateBetween(t, Math.Min(t + 1, to)) / 1000).ToString("0", System.Globalization.CultureInfo.InvariantCulture));
        return string.Join(' ', parts) + " k/s";
    }

    private long At(double seconds)
    {
        // The last sample at or before the time (samples are 100 ms apart).
        long value = 0;
        foreach (var (s, n) in _samples)
        {
            if (s > seconds) break;
            value = n;
        }
        return value;
    }
}
