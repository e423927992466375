namespace Messenger.Protocol;

/// <summary>The third byte of every Messenger frame. docs/PROTOCOL.md describes each.</summary>
internal enum FrameType : byte
{
    Hello = 0x01,
    Welcome = 0x02,
    Refuse = 0x03,
    Data = 0x04,
    Ping = 0x05,
    Pong = 0x06,
    Leave = 0x07,
    LeaveAck = 0x08,
    SubProbe = 0x09,
    PubProbe = 0x0A,
    SubReady = 0x0B,
    Peers = 0x0C,
    Broadcast = 0x0D,
    Reset = 0x0E,
    Ack = 0x12,
    BroadcastAck = 0x13,
    BroadcastTail = 0x14,

    // Protocol 2 envelopes: the handshake, and sealed frames whose plaintext is one of the frames above.
    Handshake = 0x0F,
    Sealed = 0x10,
    SealedBroadcast = 0x11,
}
