using Messenger.Security.Noise;

namespace Messenger.Transport;

/// <summary>A handshake that a stranger started on our ROUTER and has not finished: kept for a bounded time, in
/// a bounded table.</summary>
internal sealed class PendingHandshake(byte[] routingId, NoiseHandshakeState state, long startedAt) : IDisposable
{
    public byte[] RoutingId { get; } = routingId;
    public NoiseHandshakeState State { get; } = state;
    public long StartedAt { get; } = startedAt;

    public void Dispose() => State.Dispose();
}
