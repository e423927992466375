using System.Collections.ObjectModel;

namespace Messenger.Security.Noise;

/// <summary>
/// One line of a handshake pattern: a direction and its tokens, e.g. <c>-&gt; e, es, s, ss</c>.
/// Also used for pre-messages (which only hold <c>e</c> and/or <c>s</c>).
/// </summary>
internal sealed class NoiseMessagePattern
{
    public NoiseMessagePattern(bool fromInitiator, IEnumerable<NoiseToken> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        FromInitiator = fromInitiator;
        Tokens = new ReadOnlyCollection<NoiseToken>([.. tokens]);
    }

    /// <summary>True for <c>-&gt;</c> (initiator to responder), false for <c>&lt;-</c>.</summary>
    public bool FromInitiator { get; }

    /// <summary>The tokens processed, in order, before the payload.</summary>
    public IReadOnlyList<NoiseToken> Tokens { get; }

    /// <summary>Parses one pattern line such as <c>"&lt;- e, ee, s, es"</c>.</summary>
    public static NoiseMessagePattern Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        string text = line.Trim();
        bool fromInitiator;
        if (text.StartsWith("->", StringComparison.Ordinal))
        {
            fromInitiator = true;
        }
        else if (text.StartsWith("<-", StringComparison.Ordinal))
        {
            fromInitiator = false;
        }
        else
        {
            throw new NoiseException($"Invalid Noise message pattern line '{line}'.");
        }

        var tokens = new List<NoiseToken>();
        foreach (string part in text[2..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            tokens.Add(ParseToken(part));
        }

        return new NoiseMessagePattern(fromInitiator, tokens);
    }

    public static string TokenText(NoiseToken token) => token switch
    {
        NoiseToken.E => "e",
        NoiseToken.S => "s",
        NoiseToken.EE => "ee",
        NoiseToken.ES => "es",
        NoiseToken.SE => "se",
        NoiseToken.SS => "ss",
        NoiseToken.Psk => "psk",
        _ => throw new ArgumentOutOfRangeException(nameof(token)),
    };

    public override string ToString()
        => (FromInitiator ? "-> " : "<- ") + string.Join(", ", Tokens.Select(TokenText));

    private static NoiseToken ParseToken(string text) => text switch
    {
        "e" => NoiseToken.E,
        "s" => NoiseToken.S,
        "ee" => NoiseToken.EE,
        "es" => NoiseToken.ES,
        "se" => NoiseToken.SE,
        "ss" => NoiseToken.SS,
        "psk" => NoiseToken.Psk,
        _ => throw new NoiseException($"Unknown Noise token '{text}'."),
    };
}
