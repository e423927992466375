namespace Messenger.Protocol;

/// <summary>One message decoded from a DATA or BROADCAST batch; the body points into the received frame.
/// <see cref="AckNow"/>: its sender waits for the acknowledgement, so the frame is acknowledged at once.</summary>
internal readonly record struct BatchRecord(
    MessageContentType ContentType,
    long Sequence,
    long SentAtMicros,
    string? Topic,
    ReadOnlyMemory<byte> Body,
    bool AckNow = false);
