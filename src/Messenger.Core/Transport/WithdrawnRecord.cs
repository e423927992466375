namespace Messenger.Transport;

/// <summary>A queued message taken out of its frame because its body was over the peer's MaxMessageSize
/// (<see cref="OutboundQueue.WithdrawOver"/>); <paramref name="AckNow"/> when its sender waits for the acknowledgement.</summary>
internal readonly record struct WithdrawnRecord(long Sequence, int Size, bool AckNow);
