using System.Collections.ObjectModel;
using System.Globalization;

namespace Messenger.Security.Noise;

/// <summary>
/// A Noise handshake pattern (revision 34, sections 7 and 9): pre-messages plus message patterns,
/// with any <c>pskN</c> modifiers applied. Patterns come from a fixed table of the one-way,
/// fundamental interactive and deferred patterns; every pattern built (including modifiers) is
/// checked against the specification's validity rules.
/// </summary>
internal sealed class NoiseHandshakePattern
{
    private const string PreMessageSeparator = "...";

    // Table of base patterns, written exactly as in the specification. Lines before "..." are pre-messages.
    private static readonly Dictionary<string, string[]> Definitions = new(StringComparer.Ordinal)
    {
        // One-way patterns (7.4).
        ["N"] = ["<- s", PreMessageSeparator, "-> e, es"],
        ["K"] = ["-> s", "<- s", PreMessageSeparator, "-> e, es, ss"],
        ["X"] = ["<- s", PreMessageSeparator, "-> e, es, s, ss"],

        // Fundamental interactive patterns (7.5).
        ["NN"] = ["-> e", "<- e, ee"],
        ["NK"] = ["<- s", PreMessageSeparator, "-> e, es", "<- e, ee"],
        ["NX"] = ["-> e", "<- e, ee, s, es"],
        ["XN"] = ["-> e", "<- e, ee", "-> s, se"],
        ["XK"] = ["<- s", PreMessageSeparator, "-> e, es", "<- e, ee", "-> s, se"],
        ["XX"] = ["-> e", "<- e, ee, s, es", "-> s, se"],
        ["KN"] = ["-> s", PreMessageSeparator, "-> e", "<- e, ee, se"],
        ["KK"] = ["-> s", "<- s", PreMessageSeparator, "-> e, es, ss", "<- e, ee, se"],
        ["KX"] = ["-> s", PreMessageSeparator, "-> e", "<- e, ee, se, s, es"],
        ["IN"] = ["-> e, s", "<- e, ee, se"],
        ["IK"] = ["<- s", PreMessageSeparator, "-> e, es, s, ss", "<- e, ee, se"],
        ["IX"] = ["-> e, s", "<- e, ee, se, s, es"],

        // Deferred interactive patterns (7.6).
        ["NK1"] = ["<- s", PreMessageSeparator, "-> e", "<- e, ee, es"],
        ["NX1"] = ["-> e", "<- e, ee, s", "-> es"],
        ["X1N"] = ["-> e", "<- e, ee", "-> s", "<- se"],
        ["X1K"] = ["<- s", PreMessageSeparator, "-> e, es", "<- e, ee", "-> s", "<- se"],
        ["XK1"] = ["<- s", PreMessageSeparator, "-> e", "<- e, ee, es", "-> s, se"],
        ["X1K1"] = ["<- s", PreMessageSeparator, "-> e", "<- e, ee, es", "-> s", "<- se"],
        ["X1X"] = ["-> e", "<- e, ee, s, es", "-> s", "<- se"],
        ["XX1"] = ["-> e", "<- e, ee, s", "-> es, s, se"],
        ["X1X1"] = ["-> e", "<- e, ee, s", "-> es, s", "<- se"],
        ["K1N"] = ["-> s", PreMessageSeparator, "-> e", "<- e, ee", "-> se"],
        ["K1K"] = ["-> s", "<- s", PreMessageSeparator, "-> e, es", "<- e, ee", "-> se"],
        ["KK1"] = ["-> s", "<- s", PreMessageSeparator, "-> e", "<- e, ee, se, es"],
        ["K1K1"] = ["-> s", "<- s", PreMessageSeparator, "-> e", "<- e, ee, es", "-> se"],
        ["K1X"] = ["-> s", PreMessageSeparator, "-> e", "<- e, ee, s, es", "-> se"],
        ["KX1"] = ["-> s", PreMessageSeparator, "-> e", "<- e, ee, se, s", "-> es"],
        ["K1X1"] = ["-> s", PreMessageSeparator, "-> e", "<- e, ee, s", "-> se, es"],
        ["I1N"] = ["-> e, s", "<- e, ee", "-> se"],
        ["I1K"] = ["<- s", PreMessageSeparator, "-> e, es, s", "<- e, ee", "-> se"],
        ["IK1"] = ["<- s", PreMessageSeparator, "-> e, s", "<- e, ee, se, es"],
        ["I1K1"] = ["<- s", PreMessageSeparator, "-> e, s", "<- e, ee, es", "-> se"],
        ["I1X"] = ["-> e, s", "<- e, ee, s, es", "-> se"],
        ["IX1"] = ["-> e, s", "<- e, ee, se, s", "-> es"],
        ["I1X1"] = ["-> e, s", "<- e, ee, s", "-> se, es"],
    };

    private NoiseHandshakePattern(
        string name,
        string baseName,
        IReadOnlyList<string> modifiers,
        NoiseMessagePattern? initiatorPreMessage,
        NoiseMessagePattern? responderPreMessage,
        IReadOnlyList<NoiseMessagePattern> messages)
    {
        Name = name;
        BaseName = baseName;
        Modifiers = modifiers;
        InitiatorPreMessage = initiatorPreMessage;
        ResponderPreMessage = responderPreMessage;
        Messages = messages;
        PskCount = messages.Sum(m => m.Tokens.Count(t => t == NoiseToken.Psk));
    }

    /// <summary>Full pattern name including modifiers, e.g. <c>XXpsk3</c>.</summary>
    public string Name { get; }

    /// <summary>Pattern name without modifiers, e.g. <c>XX</c>.</summary>
    public string BaseName { get; }

    /// <summary>Modifiers in the order given, e.g. <c>psk0</c>, <c>psk2</c>.</summary>
    public IReadOnlyList<string> Modifiers { get; }

    /// <summary>The initiator's pre-message (<c>-&gt; s</c> etc.), or null.</summary>
    public NoiseMessagePattern? InitiatorPreMessage { get; }

    /// <summary>The responder's pre-message (<c>&lt;- s</c> etc.), or null.</summary>
    public NoiseMessagePattern? ResponderPreMessage { get; }

    /// <summary>The handshake messages, in order.</summary>
    public IReadOnlyList<NoiseMessagePattern> Messages { get; }

    /// <summary>Number of <c>psk</c> tokens (= number of pre-shared keys both parties must supply).</summary>
    public int PskCount { get; }

    /// <summary>True when the pattern has psk modifiers (turns on the "e also calls MixKey" rule).</summary>
    public bool HasPsk => PskCount > 0;

    /// <summary>True for the one-way patterns (N, K, X): only the initiator ever sends.</summary>
    public bool IsOneWay => Messages.All(m => m.FromInitiator);

    /// <summary>Names of the supported base patterns.</summary>
    public static IReadOnlyCollection<string> SupportedBaseNames => Definitions.Keys;

    /// <summary>
    /// Parses a pattern name such as <c>XX</c>, <c>IKpsk2</c> or <c>XXpsk0+psk3</c>.
    /// </summary>
    /// <exception cref="NoiseException">Unknown base pattern, unsupported modifier or invalid result.</exception>
    public static NoiseHandshakePattern Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int baseLength = 0;
        while (baseLength < name.Length && (char.IsAsciiLetterUpper(name[baseLength]) || char.IsAsciiDigit(name[baseLength])))
        {
            baseLength++;
        }

        string baseName = name[..baseLength];
        if (!Definitions.TryGetValue(baseName, out string[]? definition))
        {
            throw new NoiseException($"Unsupported Noise handshake pattern '{name}'.");
        }

        string modifierText = name[baseLength..];
        string[] modifiers = modifierText.Length == 0 ? [] : modifierText.Split('+');

        NoiseMessagePattern? initiatorPre = null;
        NoiseMessagePattern? responderPre = null;
        int separator = Array.IndexOf(definition, PreMessageSeparator);
        for (int i = 0; i < separator; i++)
        {
            NoiseMessagePattern pre = NoiseMessagePattern.Parse(definition[i]);
            if (pre.FromInitiator)
            {
                initiatorPre = initiatorPre is null ? pre : throw new NoiseException($"Pattern '{baseName}' has two initiator pre-messages.");
            }
            else
            {
                responderPre = responderPre is null ? pre : throw new NoiseException($"Pattern '{baseName}' has two responder pre-messages.");
            }
        }

        var messages = new List<NoiseMessagePattern>();
        for (int i = separator + 1; i < definition.Length; i++)
        {
            messages.Add(NoiseMessagePattern.Parse(definition[i]));
        }

        ApplyModifiers(name, modifiers, messages);

        var pattern = new NoiseHandshakePattern(
            name,
            baseName,
            new ReadOnlyCollection<string>(modifiers),
            initiatorPre,
            responderPre,
            new ReadOnlyCollection<NoiseMessagePattern>(messages));
        pattern.Validate();
        return pattern;
    }

    /// <summary>True when the party must hold a static key pair (it sends or pre-shares <c>s</c>).</summary>
    public bool RequiresLocalStatic(bool initiator)
    {
        NoiseMessagePattern? pre = initiator ? InitiatorPreMessage : ResponderPreMessage;
        return (pre?.Tokens.Contains(NoiseToken.S) ?? false)
            || Messages.Any(m => m.FromInitiator == initiator && m.Tokens.Contains(NoiseToken.S));
    }

    /// <summary>True when the party must know the remote static key before the handshake (pre-message).</summary>
    public bool RequiresRemoteStatic(bool initiator)
        => (initiator ? ResponderPreMessage : InitiatorPreMessage)?.Tokens.Contains(NoiseToken.S) ?? false;

    /// <summary>True when the party's ephemeral key is part of a pre-message (must be supplied up front).</summary>
    public bool RequiresLocalEphemeral(bool initiator)
        => (initiator ? InitiatorPreMessage : ResponderPreMessage)?.Tokens.Contains(NoiseToken.E) ?? false;

    /// <summary>True when the remote ephemeral key is part of a pre-message (must be supplied up front).</summary>
    public bool RequiresRemoteEphemeral(bool initiator)
        => (initiator ? ResponderPreMessage : InitiatorPreMessage)?.Tokens.Contains(NoiseToken.E) ?? false;

    public override string ToString() => Name;

    private static void ApplyModifiers(string name, string[] modifiers, List<NoiseMessagePattern> messages)
    {
        var seen = new HashSet<int>();
        foreach (string modifier in modifiers)
        {
            ReadOnlySpan<char> digits = modifier.StartsWith("psk", StringComparison.Ordinal) ? modifier.AsSpan(3) : [];
            if (digits.IsEmpty
                || digits.ContainsAnyExceptInRange('0', '9')
                || (digits.Length > 1 && digits[0] == '0')
                || !int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int position))
            {
                throw new NoiseException($"Unsupported Noise pattern modifier '{modifier}' in '{name}'.");
            }

            if (position > messages.Count)
            {
                throw new NoiseException($"Modifier '{modifier}' in '{name}' refers to a message the pattern does not have.");
            }

            if (!seen.Add(position))
            {
                throw new NoiseException($"Modifier '{modifier}' appears twice in '{name}'.");
            }

            if (position == 0)
            {
                NoiseMessagePattern first = messages[0];
                messages[0] = new NoiseMessagePattern(first.FromInitiator, first.Tokens.Prepend(NoiseToken.Psk));
            }
            else
            {
                NoiseMessagePattern target = messages[position - 1];
                messages[position - 1] = new NoiseMessagePattern(target.FromInitiator, target.Tokens.Append(NoiseToken.Psk));
            }
        }
    }

    /// <summary>Checks the validity rules of sections 7.3 and 9.3 on this pattern.</summary>
    private void Validate()
    {
        if (Messages.Count == 0 || !Messages[0].FromInitiator)
        {
            throw Invalid("the first message must be sent by the initiator");
        }

        for (int i = 1; i < Messages.Count; i++)
        {
            if (Messages[i].FromInitiator == Messages[i - 1].FromInitiator)
            {
                throw Invalid("messages must alternate between initiator and responder");
            }
        }

        // Index 0 = initiator, 1 = responder.
        bool[] hasE = new bool[2];
        bool[] hasS = new bool[2];
        bool[] pskProcessed = new bool[2];
        var dhDone = new HashSet<NoiseToken>();

        ApplyPreMessage(InitiatorPreMessage, fromInitiator: true, hasE, hasS);
        ApplyPreMessage(ResponderPreMessage, fromInitiator: false, hasE, hasS);

        foreach (NoiseMessagePattern message in Messages)
        {
            int sender = message.FromInitiator ? 0 : 1;
            foreach (NoiseToken token in message.Tokens)
            {
                switch (token)
                {
                    case NoiseToken.E:
                        if (hasE[sender])
                        {
                            throw Invalid("a party sends its ephemeral key twice");
                        }

                        hasE[sender] = true;
                        break;
                    case NoiseToken.S:
                        if (hasS[sender])
                        {
                            throw Invalid("a party sends its static key twice");
                        }

                        CheckEncryptAllowed(sender, hasE, pskProcessed, dhDone);
                        hasS[sender] = true;
                        break;
                    case NoiseToken.Psk:
                        pskProcessed[0] = true;
                        pskProcessed[1] = true;
                        break;
                    default:
                        bool present = token switch
                        {
                            NoiseToken.EE => hasE[0] && hasE[1],
                            NoiseToken.ES => hasE[0] && hasS[1],
                            NoiseToken.SE => hasS[0] && hasE[1],
                            _ => hasS[0] && hasS[1],
                        };
                        if (!present)
                        {
                            throw Invalid($"'{NoiseMessagePattern.TokenText(token)}' uses a key not yet exchanged");
                        }

                        if (!dhDone.Add(token))
                        {
                            throw Invalid($"'{NoiseMessagePattern.TokenText(token)}' is performed twice");
                        }

                        break;
                }
            }

            // The payload is always passed through EncryptAndHash.
            CheckEncryptAllowed(sender, hasE, pskProcessed, dhDone);
        }
    }

    private void CheckEncryptAllowed(int sender, bool[] hasE, bool[] pskProcessed, HashSet<NoiseToken> dhDone)
    {
        // 9.3: no encrypted data after a psk unless this party has sent an ephemeral key.
        if (pskProcessed[sender] && !hasE[sender])
        {
            throw Invalid("a party encrypts after a psk without having sent an ephemeral key");
        }

        // 7.3 rule 4: DH(local static, remote X) must be accompanied by DH(local ephemeral, remote X).
        bool initiator = sender == 0;
        NoiseToken staticWithRemoteE = initiator ? NoiseToken.SE : NoiseToken.ES;
        NoiseToken staticWithRemoteS = NoiseToken.SS;
        NoiseToken ephemeralWithRemoteS = initiator ? NoiseToken.ES : NoiseToken.SE;
        if ((dhDone.Contains(staticWithRemoteE) && !dhDone.Contains(NoiseToken.EE))
            || (dhDone.Contains(staticWithRemoteS) && !dhDone.Contains(ephemeralWithRemoteS)))
        {
            throw Invalid("a party encrypts after a static DH without the matching ephemeral DH");
        }
    }

    private void ApplyPreMessage(NoiseMessagePattern? pre, bool fromInitiator, bool[] hasE, bool[] hasS)
    {
        if (pre is null)
        {
            return;
        }

        int party = fromInitiator ? 0 : 1;
        foreach (NoiseToken token in pre.Tokens)
        {
            switch (token)
            {
                case NoiseToken.E when !hasE[party]:
                    hasE[party] = true;
                    break;
                case NoiseToken.S when !hasS[party]:
                    hasS[party] = true;
                    break;
                default:
                    throw Invalid("pre-messages may only hold one 'e' and one 's'");
            }
        }
    }

    private NoiseException Invalid(string reason) => new($"Invalid Noise handshake pattern '{Name}': {reason}.");
}
