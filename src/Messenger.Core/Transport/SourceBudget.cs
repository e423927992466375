using System.Runtime.InteropServices;
using Messenger.Internal;

namespace Messenger.Transport;

/// <summary>
/// A token bucket per inbound connection (ROUTER routing id): <c>burst</c> tokens, one more every
/// <c>refillMilliseconds</c>. It keeps one connection from using up what the node grants to all (handshake starts,
/// RESET answers). The table is bounded: when it holds <c>capacity</c> connections a new one is not tracked and is
/// granted its request, so the table cannot grow without bound and never locks a member out; the node-wide limits
/// still apply to it. A bucket that has filled up again is removed by <see cref="Prune"/>, as a new one would be the
/// same. Used by the poller thread only.
/// </summary>
internal sealed class SourceBudget(int burst, int refillMilliseconds, int capacity)
{
    private readonly Dictionary<byte[], Bucket> _buckets = new(ByteArrayComparer.Instance);

    private struct Bucket
    {
        public int Tokens;
        public long RefilledAt;
    }

    /// <summary>Connections tracked now.</summary>
    public int Count => _buckets.Count;

    /// <summary>Takes a token of <paramref name="source"/>'s bucket: false when it has none left.</summary>
    public bool TryTake(byte[] source, long now)
    {
        ref var bucket = ref CollectionsMarshal.GetValueRefOrAddDefault(_buckets, source, out var exists);
        if (!exists)
        {
            if (_buckets.Count > capacity)
            {
                _buckets.Remove(source);
                return true;
            }
            bucket.Tokens = burst;
            bucket.RefilledAt = now;
        }
        else
        {
            var gained = (now - bucket.RefilledAt) / refillMilliseconds;
            if (bucket.Tokens + gained >= burst)
            {
                bucket.Tokens = burst;
                bucket.RefilledAt = now;
            }
            else if (gained > 0)
            {
                bucket.Tokens += (int)gained;
                bucket.RefilledAt += gained * refillMilliseconds;
            }
        }
        if (bucket.Tokens == 0) return false;
        bucket.Tokens--;
        return true;
    }

    /// <summary>Gives <paramref name="source"/> a full bucket again (its connection proved itself).</summary>
    public void Forget(byte[] source) => _buckets.Remove(source);

    public void Clear() => _buckets.Clear();

    /// <summary>Removes the buckets that are full again.</summary>
    public void Prune(long now)
    {
        foreach (var (source, bucket) in _buckets)
        {
            if (bucket.Tokens + (now - bucket.RefilledAt) / refillMilliseconds >= burst) _buckets.Remove(source);
        }
    }
}
