namespace Messenger;

/// <summary>A topic is longer than 255 UTF-8 bytes or empty.</summary>
public sealed class InvalidTopicException : MessengerException
{
    /// <summary>Creates the exception.</summary>
    public InvalidTopicException(string topic)
        : base("InvalidTopic", $"The topic '{(topic.Length > 40 ? topic[..40] + "..." : topic)}' is invalid: a topic is 1 to 255 bytes of UTF-8, and valid Unicode (no lone surrogate).")
        => Topic = topic;

    /// <summary>The topic given.</summary>
    public string Topic { get; }
}
