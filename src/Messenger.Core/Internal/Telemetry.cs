using System.Diagnostics.Metrics;

namespace Messenger.Internal;

/// <summary>The meter "Messenger" and its instruments. Every measurement is tagged with the node's name.</summary>
internal static class Telemetry
{
    public const string MeterName = "Messenger";

    private static readonly Meter s_meter = new(MeterName, "1.0");

    public static readonly Counter<long> MessagesSent = s_meter.CreateCounter<long>("messenger.messages.sent", "{message}", "Messages accepted for sending");
    public static readonly Counter<long> MessagesSentDirect = s_meter.CreateCounter<long>("messenger.messages.sent_direct", "{message}", "Messages sealed and sent on their sender's thread, over a data connection");
    public static readonly Counter<long> MessagesReceived = s_meter.CreateCounter<long>("messenger.messages.received", "{message}", "Messages received from peers, including any the full receive queue then dropped");
    public static readonly Counter<long> MessagesDropped = s_meter.CreateCounter<long>("messenger.messages.dropped", "{message}", "Messages dropped (reason tag)");
    public static readonly Counter<long> BroadcastsMissed = s_meter.CreateCounter<long>("messenger.broadcasts.missed", "{message}", "Broadcasts from peers never delivered here (gaps in their sequence)");
    public static readonly Counter<long> BytesSent = s_meter.CreateCounter<long>("messenger.bytes.sent", "By", "Bytes of frames sent");
    public static readonly Counter<long> BytesReceived = s_meter.CreateCounter<long>("messenger.bytes.received", "By", "Bytes of frames received");
    public static readonly Counter<long> FramesRejected = s_meter.CreateCounter<long>("messenger.frames.rejected", "{frame}", "Frames dropped as malformed or unexpected (reason tag)");
    public static readonly Counter<long> HandshakesRefused = s_meter.CreateCounter<long>("messenger.handshakes.refused", "{handshake}", "Handshakes refused (reason tag)");
    public static readonly Counter<long> Restarts = s_meter.CreateCounter<long>("messenger.actor.restarts", "{restart}", "Restarts of failed parts by the supervisor (actor tag)");
    public static readonly UpDownCounter<long> PeersConnected = s_meter.CreateUpDownCounter<long>("messenger.peers.connected", "{peer}", "Peers connected");
}
