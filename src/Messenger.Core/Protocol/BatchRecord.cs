namespace Messenger.Protocol;

/// <summary>One message decoded from a DATA or BROADCAST batch; the body points into the received frame.
/// <see cref="AckNow"/>: its sender waits for the acknowledgement, so the frame is acknowledged at once.
/// <see cref="Withdrawn"/>: its sender withdrew it (it was over this node's MaxMessageSize): it takes its sequence
/// number, and there is nothing to deliver.</summary>
internal readonly record struct BatchRecord(
    MessageContentType ContentType,
    long Sequence,
    long SentAtMicros,
    string? Topic,
    ReadOnlyMemory<byte> Body,
    bool AckNow = false,
    bool Withdrawn = false);
