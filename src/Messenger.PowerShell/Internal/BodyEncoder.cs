using System.Management.Automation;
using System.Text;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// Turns a -Message object into a body: a string travels as UTF-8 text, a byte array as it is, anything else as
/// JSON (see <see cref="PSJson"/>). The returned memory is valid until the next call: the caller waits for each
/// send to be queued (the engine copies the body then) before encoding the next message.
/// </summary>
internal sealed class BodyEncoder
{
    private readonly PSJson.Writer _json;
    private byte[] _text = new byte[1024];

    public BodyEncoder(int depth) => _json = new PSJson.Writer(depth);

    public ReadOnlyMemory<byte> Encode(object? message, out MessageContentType contentType)
    {
        var value = message is PSObject pso && pso.BaseObject is not PSCustomObject ? pso.BaseObject : message;
        switch (value)
        {
            case string text:
                contentType = MessageContentType.Text;
                if (text.Length * 3 > _text.Length)
                {
                    var needed = Encoding.UTF8.GetByteCount(text);
                    if (needed > _text.Length) _text = new byte[Math.Max(needed, _text.Length * 2)];
                }
                return _text.AsMemory(0, Encoding.UTF8.GetBytes(text, _text));
            case byte[] bytes:
                contentType = MessageContentType.Binary;
                return bytes;
            default:
                contentType = MessageContentType.Json;
                return _json.Write(message);
        }
    }
}
