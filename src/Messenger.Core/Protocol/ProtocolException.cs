namespace Messenger.Protocol;

/// <summary>A received frame broke the wire protocol. Raised by the decoders and caught where frames are read:
/// the frame is dropped and counted, the node goes on.</summary>
internal sealed class ProtocolException : Exception
{
    public ProtocolException(string message) : base(message) { }
}
