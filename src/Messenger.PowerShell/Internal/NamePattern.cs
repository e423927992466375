using System.Management.Automation;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// How -Name, -From and -Topic match names: a pattern with wildcard characters as PowerShell's wildcards do, case
/// aside; a plain name exactly, as it is on the wire (web1 is not WEB1), so that Stop-MessengerNode -Name web1
/// never stops a node named WEB1.
/// </summary>
internal sealed class NamePattern
{
    private readonly string _name;
    private readonly WildcardPattern? _wildcard;

    public NamePattern(string pattern)
    {
        // A topic may hold wildcard characters, given escaped ('a`*' for the topic a*).
        _name = WildcardPattern.Unescape(pattern);
        if (WildcardPattern.ContainsWildcardCharacters(pattern)) _wildcard = WildcardPattern.Get(pattern, WildcardOptions.IgnoreCase);
    }

    /// <summary>The pattern is a plain name: not finding it is an error where a wildcard's finding nothing is not.</summary>
    public bool IsPlainName => _wildcard is null;

    public bool IsMatch(string name) => _wildcard?.IsMatch(name) ?? string.Equals(name, _name, StringComparison.Ordinal);
}
