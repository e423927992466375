namespace Messenger;

/// <summary>A message body is larger than <see cref="MessengerNodeOptions.MaxMessageSize"/>: this node's, or that
/// of the peer it is for (for a broadcast, of any peer in the table).</summary>
public sealed class MessageTooLargeException : MessengerException
{
    /// <summary>Creates the exception.</summary>
    public MessageTooLargeException(int size, int limit)
        : base("MessageTooLarge", $"The message body has {size} bytes; this node accepts at most {limit} (MaxMessageSize).")
    {
        Size = size;
        Limit = limit;
    }

    /// <summary>Creates the exception for a body larger than what the peer <paramref name="peer"/> accepts (the
    /// MaxMessageSize it told this node when it welcomed it).</summary>
    public MessageTooLargeException(int size, int limit, string peer)
        : base("MessageTooLarge", $"The message body has {size} bytes; node '{peer}' accepts at most {limit} (its MaxMessageSize).")
    {
        Size = size;
        Limit = limit;
        Peer = peer;
    }

    /// <summary>The peer whose limit the body is over; null when it is over this node's own.</summary>
    public string? Peer { get; }

    /// <summary>The body's size in bytes.</summary>
    public int Size { get; }

    /// <summary>The limit in bytes.</summary>
    public int Limit { get; }
}
