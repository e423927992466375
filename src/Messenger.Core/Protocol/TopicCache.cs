namespace Messenger.Protocol;

/// <summary>Decodes topics without allocating a new string for the topic that was seen last on this thread:
/// a stream of messages usually repeats one topic.</summary>
internal static class TopicCache
{
    [ThreadStatic] private static byte[]? s_lastBytes;
    [ThreadStatic] private static string? s_lastTopic;

    public static string Get(ReadOnlySpan<byte> utf8)
    {
        if (s_lastBytes is not null && utf8.SequenceEqual(s_lastBytes)) return s_lastTopic!;
        string topic;
        try
        {
            topic = Wire.StrictUtf8.GetString(utf8);
        }
        catch (ArgumentException)
        {
            throw new ProtocolException("topic is not valid UTF-8");
        }
        s_lastBytes = utf8.ToArray();
        s_lastTopic = topic;
        return topic;
    }
}
