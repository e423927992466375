namespace Messenger;

/// <summary>A message body is larger than <see cref="MessengerNodeOptions.MaxMessageSize"/>.</summary>
public sealed class MessageTooLargeException : MessengerException
{
    /// <summary>Creates the exception.</summary>
    public MessageTooLargeException(int size, int limit)
        : base("MessageTooLarge", $"The message body has {size} bytes; this node accepts at most {limit} (MaxMessageSize).")
    {
        Size = size;
        Limit = limit;
    }

    /// <summary>The body's size in bytes.</summary>
    public int Size { get; }

    /// <summary>The limit in bytes.</summary>
    public int Limit { get; }
}
