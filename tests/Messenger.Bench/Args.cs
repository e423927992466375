using System.Globalization;

namespace Messenger.Bench;

/// <summary>Command-line arguments of the form <c>--key value</c> and <c>--flag</c>.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);

    public static Args Parse(IReadOnlyList<string> args)
    {
        var parsed = new Args();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
                throw new BenchException($"unexpected argument '{arg}' (arguments are --key value or --flag; try --help)");
            var key = arg[2..];
            string? value = null;
            if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) value = args[++i];
            parsed._values[key] = value;
        }
        return parsed;
    }

    public IEnumerable<string> Keys => _values.Keys;

    public bool Has(string key) => _values.ContainsKey(key);

    public string? Get(string key) => _values.TryGetValue(key, out var v) ? v : null;

    public string Require(string key) =>
        Get(key) ?? throw new BenchException($"--{key} <value> is required here");

    public long Long(string key, long fallback)
    {
        var text = Get(key);
        if (text is null) return fallback;
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new BenchException($"--{key} '{text}' is not a whole number");
    }

    public int Int(string key, int fallback) => checked((int)Long(key, fallback));
}

/// <summary>A failure the benchmark reports in words and carries on from (or exits with 1).</summary>
internal sealed class BenchException : Exception
{
    public BenchException()
    {
    }

    public BenchException(string message) : base(message)
    {
    }

    public BenchException(string message, Exception inner) : base(message, inner)
    {
    }
}
