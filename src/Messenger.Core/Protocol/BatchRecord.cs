namespace Messenger.Protocol;

/// <summary>One message decoded from a DATA or BROADCAST batch; the body points into the received frame.</summary>
internal readonly record struct BatchRecord(
    MessageContentType ContentType,
    long Sequence,
    long SentAtMicros,
    string? Topic,
    ReadOnlyMemory<byte> Body);
