using System.Management.Automation;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// The largest body a send command lets through: the smaller of its node's MaxMessageSize and each receiving
/// peer's (from its WELCOME), read when the command begins. A body over it is refused on the pipeline thread, one
/// message of the stream. A peer that joins later with a smaller limit makes the engine refuse bodies over that
/// (see <see cref="SendCoalescer.TakeRefused"/>); <see cref="Lower"/> then takes its limit. A body over the limit
/// makes the command read the table again (<see cref="Refresh"/>), so a peer that has left no longer holds it down.
/// </summary>
internal sealed class SendLimit
{
    /// <param name="engine">The sending node.</param>
    /// <param name="peers">The receiving peers; null for a broadcast, which every peer in the table receives.</param>
    public SendLimit(MessengerNode engine, IReadOnlyList<string>? peers)
    {
        _engine = engine;
        _peers = peers;
        Read();
    }

    private readonly MessengerNode _engine;
    private readonly IReadOnlyList<string>? _peers;

    public int Bytes { get; private set; }

    /// <summary>The peer whose limit <see cref="Bytes"/> is; null when it is the node's own.</summary>
    public string? Peer { get; private set; }

    public MessageTooLargeException TooLarge(int size) =>
        Peer is null ? new MessageTooLargeException(size, Bytes) : new MessageTooLargeException(size, Bytes, Peer);

    /// <summary>The error for a body over the limit; a JSON one was cut short (see <see cref="BodyEncoder.Encode"/>),
    /// and its size is not known.</summary>
    public ErrorRecord TooLargeError(int size, MessageContentType contentType, object? target)
    {
        var record = ErrorFactory.FromException(TooLarge(size), target);
        if (contentType == MessageContentType.Json)
        {
            var whose = Peer is null ? "this node accepts" : $"node '{Peer}' accepts";
            record.ErrorDetails = new ErrorDetails($"The message body, as JSON, has more than {Bytes} bytes; {whose} at most {Bytes} (MaxMessageSize). A lower -Depth, or an object with fewer properties, makes it smaller.");
        }
        return record;
    }

    /// <summary>Reads the limit again from the peer table, for a body over it: the peer whose limit it was may have
    /// left since. True when the limit rose.</summary>
    public bool Refresh()
    {
        var was = Bytes;
        Read();
        return Bytes > was;
    }

    private void Read()
    {
        (Bytes, Peer) = (_engine.Options.MaxMessageSize, null);
        var infos = _peers is null ? _engine.GetPeers() : _peers.Select(_engine.GetPeer).OfType<PeerInfo>();
        foreach (var peer in infos)
        {
            if (peer.MaxMessageSize is { } theirs && theirs < Bytes) (Bytes, Peer) = (theirs, peer.Name);
        }
    }

    /// <summary>A hand-over was refused for a peer's smaller limit: later bodies over it are refused here.</summary>
    public void Lower(MessageTooLargeException refusal)
    {
        if (refusal.Peer is not null && refusal.Limit < Bytes) (Bytes, Peer) = (refusal.Limit, refusal.Peer);
    }
}
