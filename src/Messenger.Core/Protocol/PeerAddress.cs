namespace Messenger.Protocol;

/// <summary>Where a node can be reached: its host and the ports of its unicast and broadcast sockets.</summary>
internal readonly record struct PeerAddress(string Host, int Port, int PublishPort)
{
    public string Endpoint => $"tcp://{Host}:{Port}";
    public string PublishEndpoint => $"tcp://{Host}:{PublishPort}";
}
