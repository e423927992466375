namespace Messenger.PowerShell.Completion;

/// <summary>Quoting of completion texts: names are plain in Messenger (letters, digits, '.', '_', '-'), but a
/// word the user started with a quote keeps its quote, and a name that PowerShell would read as a number or a
/// parameter (it starts with a digit, '.' or '-') is quoted.</summary>
internal static class CompletionText
{
    public static string Unquote(string? word)
    {
        if (string.IsNullOrEmpty(word)) return string.Empty;
        return word.Trim('\'', '"');
    }

    public static string Quote(string name, string? word)
    {
        var quote = !string.IsNullOrEmpty(word) && word[0] is '\'' or '"' ? word[0] : (char?)null;
        if (quote is null && name.Length > 0 && !(char.IsAsciiDigit(name[0]) || name[0] is '.' or '-')
            && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')) return name;
        var q = quote ?? '\'';
        return $"{q}{name.Replace("'", "''", StringComparison.Ordinal)}{q}";
    }
}
