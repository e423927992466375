using System.Management.Automation;
using System.Text;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// Turns a -Message object into a body: a string travels as UTF-8 text, a byte array as it is, anything else as
/// JSON (see <see cref="PSJson"/>). Strings, the common case, are not encoded here: <see cref="SendCoalescer"/>
/// writes them straight into its burst buffer. The memory <see cref="Encode"/> returns is valid until the next call.
/// </summary>
internal sealed class BodyEncoder
{
    private readonly int _depth;
    private PSJson.Writer? _json;
    private byte[]? _text;

    public BodyEncoder(int depth) => _depth = depth;

    /// <summary>What a -Message argument stands for: the object a PSObject wraps, unless it is a PSCustomObject
    /// (then the PSObject itself, whose properties are the message). Reads the wrapper once.</summary>
    public static object? Unwrap(object? message)
    {
        if (message is not PSObject pso) return message;
        var inner = pso.BaseObject;
        return inner is PSCustomObject ? pso : inner;
    }

    /// <summary>Where <paramref name="text"/> holds half of a surrogate pair, or -1. UTF-8 cannot carry one: an
    /// encoder puts U+FFFD in its place, and the peer would read another text. Cheap for text without surrogates
    /// (one vectorized search), the common case.</summary>
    public static int LoneSurrogateAt(string text)
    {
        for (var i = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF'); i >= 0 && i < text.Length; i++)
        {
            var c = text[i];
            if (!char.IsSurrogate(c)) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }
            return i;
        }
        return -1;
    }

    /// <param name="message">The argument as bound (JSON keeps a wrapper's extra properties).</param>
    /// <param name="value">The same, unwrapped (<see cref="Unwrap"/>).</param>
    /// <param name="maxBytes">The largest body that can go: JSON is not written far past it (what is returned is then
    /// longer than it, and cut short).</param>
    /// <param name="contentType">How the body is to be read.</param>
    public ReadOnlyMemory<byte> Encode(object? message, object? value, int maxBytes, out MessageContentType contentType)
    {
        switch (value)
        {
            case string text:
                contentType = MessageContentType.Text;
                var needed = Encoding.UTF8.GetByteCount(text);
                if (_text is null || _text.Length < needed) _text = new byte[Math.Max(needed, 1024)];
                return _text.AsMemory(0, Encoding.UTF8.GetBytes(text, _text));
            case byte[] bytes:
                contentType = MessageContentType.Binary;
                return bytes;
            default:
                contentType = MessageContentType.Json;
                return (_json ??= new PSJson.Writer(_depth)).Write(message, maxBytes);
        }
    }
}
