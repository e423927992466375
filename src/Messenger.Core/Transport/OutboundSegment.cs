namespace Messenger.Transport;

/// <summary>A filled batch frame waiting to go on the wire: a rented buffer and how much of it is used.</summary>
internal readonly record struct OutboundSegment(byte[] Buffer, int Length, int Count, long LastSequence);
