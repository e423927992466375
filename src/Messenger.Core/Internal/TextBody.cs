using System.Text;
using Messenger.Protocol;

namespace Messenger.Internal;

/// <summary>
/// Text bodies as UTF-8. A string holding half of a surrogate pair is refused: UTF-8 cannot carry it, and an
/// encoder would put U+FFFD in its place, so that the peer read another text than the one sent.
/// </summary>
internal static class TextBody
{
    /// <exception cref="ArgumentException">The text holds half of a surrogate pair.</exception>
    public static byte[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            return Wire.StrictUtf8.GetBytes(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException(
                $"The text holds half of a surrogate pair (at index {e.Index}), which UTF-8 cannot carry: it would arrive as another text, with U+FFFD in its place. Nothing was sent.",
                nameof(text), e);
        }
    }
}
