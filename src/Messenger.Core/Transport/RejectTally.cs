using Messenger.Protocol;

namespace Messenger.Transport;

/// <summary>
/// Adds up the frames a node rejects over a window (a second), so that a flood is logged as one line a second
/// (log event 1302: how many, for which reasons, from which connections) instead of one formatted line per frame.
/// Counting costs an array increment and a look through a few remembered sources; the text is made once per
/// window. The first <see cref="Slots"/> distinct sources of a window are counted one by one, the rest together.
/// Handshakes refused without an answer (rate limits, expiry) are added up the same way (log event 1203).
/// Used by the poller thread only.
/// </summary>
internal sealed class RejectTally
{
    public const int Slots = 8;

    private readonly long[] _byReason = new long[RejectReasons.Count];
    private readonly byte[]?[] _connections = new byte[]?[Slots];
    private readonly string?[] _peers = new string?[Slots];
    private readonly long[] _bySource = new long[Slots];
    private int _used;
    private long _others;
    private long _total;
    private long _windowStart;
    private readonly Dictionary<string, long> _refusals = new(StringComparer.Ordinal);
    private long _refused;
    private long _refusalsStart;

    /// <summary>Rejected frames in the current window.</summary>
    public long Count => _total;

    /// <summary>Counts a rejected frame from an inbound connection (<paramref name="connection"/>, its routing id)
    /// or from a known peer (<paramref name="peer"/>). True when it is the first of a new window.</summary>
    public bool Add(RejectReason reason, byte[]? connection, string? peer, long now)
    {
        var first = _total == 0;
        if (first) _windowStart = now;
        _total++;
        _byReason[(int)reason]++;
        for (var i = 0; i < _used; i++)
        {
            if (peer is not null ? string.Equals(_peers[i], peer, StringComparison.Ordinal) : _peers[i] is null && Same(_connections[i], connection))
            {
                _bySource[i]++;
                return first;
            }
        }
        if (_used < Slots)
        {
            (_connections[_used], _peers[_used], _bySource[_used]) = (connection, peer, 1);
            _used++;
        }
        else
        {
            _others++;
        }
        return first;
    }

    /// <summary>Counts a handshake refused without an answer; <paramref name="reason"/> is one of a few constant
    /// tags.</summary>
    public void AddRefusal(string reason, long now)
    {
        if (_refused++ == 0) _refusalsStart = now;
        System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_refusals, reason, out _)++;
    }

    /// <summary>True when the refusals' window holds some and is at least <paramref name="windowMilliseconds"/> old.</summary>
    public bool RefusalsDue(long now, long windowMilliseconds) => _refused > 0 && now - _refusalsStart >= windowMilliseconds;

    /// <summary>The refusals' window as text, and a new one.</summary>
    public (long Count, double Seconds, string Reasons) TakeRefusals(long now)
    {
        var summary = (_refused, (now - _refusalsStart) / 1000.0, Join(_refusals.Select(r => (r.Key, r.Value))));
        _refusals.Clear();
        _refused = 0;
        return summary;
    }

    private static string Join(IEnumerable<(string Name, long Count)> counts) =>
        string.Join(", ", counts.Where(c => c.Count > 0).OrderByDescending(c => c.Count).Select(c => $"{c.Name} {c.Count}"));

    private static bool Same(byte[]? a, byte[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    /// <summary>True when the window holds rejected frames and is at least <paramref name="windowMilliseconds"/> old.</summary>
    public bool FramesDue(long now, long windowMilliseconds) => _total > 0 && now - _windowStart >= windowMilliseconds;

    /// <summary>The window's figures as text, and a new window.</summary>
    public (long Count, double Seconds, string Reasons, string Sources) TakeFrames(long now)
    {
        var reasons = Join(_byReason.Select((count, index) => (RejectReasons.Tag((RejectReason)index), count)));
        var sources = Join(Enumerable.Range(0, _used).Select(i => (Describe(_connections[i], _peers[i]), _bySource[i])).Append(("other connections", _others)));
        var summary = (_total, (now - _windowStart) / 1000.0, reasons, sources);
        Array.Clear(_byReason);
        Array.Clear(_connections);
        Array.Clear(_peers);
        (_used, _others, _total) = (0, 0, 0);
        return summary;
    }

    /// <summary>How a source is named in the log: a peer by name, a stranger by its connection's routing id.</summary>
    public static string Describe(byte[]? connection, string? peer) =>
        peer ?? (connection is null ? "an unknown connection" : $"connection {Convert.ToHexStringLower(connection)}");
}
