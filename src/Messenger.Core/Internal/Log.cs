using Microsoft.Extensions.Logging;

namespace Messenger.Internal;

/// <summary>Every log event of the engine, with stable event ids (documented in README.md).</summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "Node {Node} started: unicast {Endpoint}, broadcast {PublishEndpoint}, cluster {Cluster}")]
    public static partial void NodeStarted(ILogger logger, string node, string endpoint, string publishEndpoint, string cluster);

    [LoggerMessage(1001, LogLevel.Information, "Node {Node} stopped")]
    public static partial void NodeStopped(ILogger logger, string node);

    [LoggerMessage(1002, LogLevel.Information, "Beacon of {Node} announces on {Interfaces} port {Port}")]
    public static partial void BeaconStarted(ILogger logger, string node, string interfaces, int port);

    [LoggerMessage(1004, LogLevel.Warning, "Node {Node} uses the key file '{Path}', which others than its owner may read: the secret in it is theirs too; make it readable by its owner alone (chmod 600)")]
    public static partial void KeyFileExposed(ILogger logger, string node, string path);

    [LoggerMessage(1003, LogLevel.Warning, "Node {Node} runs INSECURE: links are plaintext and peers are not authenticated. Use this for debugging only.")]
    public static partial void InsecureMode(ILogger logger, string node);

    [LoggerMessage(1100, LogLevel.Information, "Peer {Peer} ({PeerId}) {State}: {Reason}")]
    public static partial void PeerStateChanged(ILogger logger, string peer, string peerId, PeerState state, string reason);

    [LoggerMessage(1101, LogLevel.Debug, "Found {Peer} ({PeerId}) at {Endpoint} by {How}")]
    public static partial void PeerFound(ILogger logger, string peer, string peerId, string endpoint, string how);

    [LoggerMessage(1102, LogLevel.Debug, "Data connection to {Peer} closed: {Reason}")]
    public static partial void DataConnectionClosed(ILogger logger, string peer, string reason);

    [LoggerMessage(EventId = 1103, Message = "Cannot connect to {Target} at {Endpoint}: {Reason}")]
    public static partial void CannotConnect(ILogger logger, LogLevel level, string target, string endpoint, string reason);

    [LoggerMessage(1104, LogLevel.Debug, "Ignoring the beacon of {Peer} ({PeerId}) from {Address}: {Reason}")]
    public static partial void BeaconIgnored(ILogger logger, string peer, string peerId, string address, string reason);

    [LoggerMessage(1105, LogLevel.Debug, "Seed {Endpoint} is this node: not greeted again")]
    public static partial void SeedIsThisNode(ILogger logger, string endpoint);

    [LoggerMessage(1106, LogLevel.Warning, "Beacons dropped: {Waiting} wait for the node's loop, which is behind")]
    public static partial void BeaconsDropped(ILogger logger, int waiting);

    [LoggerMessage(1107, LogLevel.Information, "Peer {Peer} publishes at {Proven}, which its handshake proved, not at {Announced} as announced to this node: subscribing there")]
    public static partial void PublishPortCorrected(ILogger logger, string peer, string announced, string proven);

    [LoggerMessage(1108, LogLevel.Information, "Not linking {Peer} ({PeerId}), found by {How}: {Reason}")]
    public static partial void PeerNotLinked(ILogger logger, string peer, string peerId, string how, string reason);

    [LoggerMessage(EventId = 1109, Message = "Another node is named {Name}, as this one is: node {PeerId} at {Endpoint}, found by {How}. Names must be unique in a cluster; the two do not link")]
    public static partial void NamesakeFound(ILogger logger, LogLevel level, string name, string peerId, string endpoint, string how);

    [LoggerMessage(EventId = 1200, Message = "Refused HELLO from {Peer} ({PeerId}): {Reason}")]
    public static partial void HelloRefused(ILogger logger, LogLevel level, string peer, string peerId, string reason);

    [LoggerMessage(EventId = 1201, Message = "Peer {Peer} refused this node: {Code} {Reason}")]
    public static partial void RefusedByPeer(ILogger logger, LogLevel level, string peer, string code, string reason);

    [LoggerMessage(1202, LogLevel.Warning, "Handshake with {Peer} failed: {Reason}")]
    public static partial void HandshakeFailed(ILogger logger, string peer, string reason);

    [LoggerMessage(1300, LogLevel.Debug, "Dropped a frame from {Source}: {Reason}")]
    public static partial void FrameRejected(ILogger logger, string source, string reason);

    [LoggerMessage(1203, LogLevel.Information, "Refused {Count} handshakes without an answer in the last {Seconds} s; by reason: {Reasons}")]
    public static partial void HandshakesRefusedSummary(ILogger logger, long count, double seconds, string reasons);

    [LoggerMessage(1302, LogLevel.Information, "Dropped {Count} frames in the last {Seconds} s; by reason: {Reasons}; by source: {Sources}")]
    public static partial void FramesRejectedSummary(ILogger logger, long count, double seconds, string reasons, string sources);

    [LoggerMessage(1303, LogLevel.Warning, "Broadcasts no longer wait for {Peer}: it acknowledged nothing for {Milliseconds} ms with {Frames} frames in flight; it may miss some")]
    public static partial void BroadcastLeftBehind(ILogger logger, string peer, long milliseconds, int frames);

    [LoggerMessage(1304, LogLevel.Warning, "Missed {Count} broadcasts from {Peer}: gaps in its sequence, never delivered here")]
    public static partial void BroadcastsMissed(ILogger logger, long count, string peer);

    [LoggerMessage(1301, LogLevel.Warning, "Dropped {Count} messages for {Peer}: {Reason}")]
    public static partial void MessagesDropped(ILogger logger, int count, string peer, string reason);

    [LoggerMessage(1305, LogLevel.Warning, "Dropped a message from {Peer}: its body of {Size} bytes is over MaxMessageSize ({Limit})")]
    public static partial void TooLargeDropped(ILogger logger, string peer, int size, int limit);

    [LoggerMessage(1306, LogLevel.Warning, "Withdrew message #{Sequence} to {Peer}: its body of {Size} bytes is over the MaxMessageSize ({Limit}) the peer told after the message was queued")]
    public static partial void TooLargeWithdrawn(ILogger logger, long sequence, string peer, int size, int limit);

    [LoggerMessage(1400, LogLevel.Error, "{Part} failed")]
    public static partial void PartFailed(ILogger logger, string part, Exception? exception);

    [LoggerMessage(1500, LogLevel.Warning, "Restarted {Actor} of node {Node} (restart {Restarts}): {Cause}")]
    public static partial void ActorRestarted(ILogger logger, string actor, string node, long restarts, string cause);

    [LoggerMessage(1501, LogLevel.Critical, "Node {Node} is faulted and stops: {Actor}: {Cause}")]
    public static partial void NodeFaulted(ILogger logger, string node, string actor, string cause);

    [LoggerMessage(1502, LogLevel.Critical, "The loop of node {Node} did not stop within {Milliseconds} ms: the node stops without it, and its sockets close if it ever returns")]
    public static partial void LoopAbandoned(ILogger logger, string node, int milliseconds);

    [LoggerMessage(1401, LogLevel.Error, "An event handler of node {Node} threw")]
    public static partial void HandlerFailed(ILogger logger, string node, Exception exception);

    [LoggerMessage(1402, LogLevel.Warning, "A handler of {Event} held the event thread of node {Node} for more than {Milliseconds} ms of its stop: the node stopped without it, and raises no more events")]
    public static partial void HandlerHeldStop(ILogger logger, string @event, string node, int milliseconds);
}
