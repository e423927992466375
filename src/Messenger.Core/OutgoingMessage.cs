namespace Messenger;

/// <summary>One message of a bulk send (<see cref="MessengerNode.SendManyAsync"/>,
/// <see cref="MessengerNode.BroadcastManyAsync"/>): its body and what the body holds. The body is copied when
/// the message is queued, so its buffer may be reused as soon as the call returns.</summary>
/// <param name="Body">The body's bytes.</param>
/// <param name="ContentType">What the body holds.</param>
public readonly record struct OutgoingMessage(ReadOnlyMemory<byte> Body, MessageContentType ContentType = MessageContentType.Binary);
