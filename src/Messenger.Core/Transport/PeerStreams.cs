namespace Messenger.Transport;

/// <summary>What a node remembers of a peer it removed from its table: where the streams between them stood. The
/// peer may not have removed this node (it was frozen, or waits longer before it calls a peer gone) and so still
/// counts this node's messages where they were: a new link to it goes on from there, instead of numbering from 1
/// again, which it would take for duplicates (and acknowledge). The same goes the other way for what the peer sends
/// again. A new incarnation of the peer resets the counts it sends, as on any link.</summary>
internal sealed record PeerStreams(long Sent, long ReceivedUnicast, long ReceivedBroadcast, Guid PlainIncarnation, byte[]? BroadcastKey, long ForgottenAt);
