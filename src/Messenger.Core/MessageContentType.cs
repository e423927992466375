namespace Messenger;

/// <summary>What a message body holds. The value travels on the wire (one byte).</summary>
public enum MessageContentType : byte
{
    /// <summary>Bytes with no further meaning to Messenger.</summary>
    Binary = 0,

    /// <summary>UTF-8 text.</summary>
    Text = 1,

    /// <summary>A UTF-8 JSON document.</summary>
    Json = 2,
}
