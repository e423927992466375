namespace Messenger.Tests.Support;

/// <summary>A message record as DocumentedPeer read it.</summary>
public sealed record DocumentedRecord(byte Flags, byte ContentType, long Sequence, string? Topic, string Text);
