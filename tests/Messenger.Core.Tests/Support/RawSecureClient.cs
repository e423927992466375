using Messenger.Protocol;
using Messenger.Security;
using Messenger.Security.Noise;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Support;

/// <summary>An attacker's (or a test's) hand-driven protocol 2 client on a raw NetMQ DEALER: it runs the Noise
/// handshake with whatever keys it is given and records every frame it sends.</summary>
public sealed class RawSecureClient : IDisposable
{
    private readonly DealerSocket _dealer = new();
    private NoiseHandshakeState? _handshake;

    public RawSecureClient(string endpoint)
    {
        _dealer.Options.Linger = TimeSpan.Zero;
        _dealer.Connect(endpoint);
    }

    public List<byte[]> Sent { get; } = [];
    internal NoiseTransport? Transport { get; private set; }

    public void Send(byte[] frame)
    {
        Sent.Add(frame);
        _dealer.SendFrame(frame);
    }

    public byte[] Receive()
    {
        Assert.True(_dealer.TryReceiveFrameBytes(TestCluster.Timeout, out var frame), "the node answered");
        return frame!;
    }

    public bool TryReceive(TimeSpan timeout, out byte[]? frame) => _dealer.TryReceiveFrameBytes(timeout, out frame);

    /// <summary>Sends HELLO with Noise message 1 under the given cluster name and pre-shared key.</summary>
    public void Hello(string cluster, byte[] psk, MessengerKeyPair identity)
    {
        using var s = NoiseKeyPair.FromPrivateKey(identity.PrivateKey);
        _handshake = NoiseHandshakeState.Initialize(MessengerHandshake.Protocol, true, MessengerHandshake.Prologue(cluster), s: s, psks: [psk]);
        Send(ControlFrames.SecureHello(cluster, _handshake.WriteMessage([])));
    }

    /// <summary>Reads message 2 and answers with message 3 claiming <paramref name="name"/>; returns the answer to it.</summary>
    public byte[] Finish(byte[] message2Frame, string name)
    {
        Assert.Equal(FrameType.Handshake, Wire.ReadEnvelope(message2Frame));
        _handshake!.ReadMessage(ControlFrames.ReadHandshake(message2Frame));
        var payload = ControlFrames.Payload(new HandshakePayload(name, "127.0.0.1", 1, 2, new byte[32]));
        Send(ControlFrames.Handshake(_handshake.WriteMessage(payload)));
        Transport = _handshake.ToTransport();
        return Receive();
    }

    public void Dispose()
    {
        _handshake?.Dispose();
        _dealer.Dispose();
    }
}
