using System.Globalization;

namespace Messenger.Stress;

/// <summary>--name value pairs and --flags.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);

    public static Args Parse(IReadOnlyList<string> argv)
    {
        var args = new Args();
        for (var i = 0; i < argv.Count; i++)
        {
            var a = argv[i];
            if (!a.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{a}'");
            var name = a[2..];
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                args._values[name[..eq]] = name[(eq + 1)..];
            }
            else if (i + 1 < argv.Count && !argv[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                args._values[name] = argv[++i];
            }
            else
            {
                args._values[name] = null;
            }
        }
        return args;
    }

    public IEnumerable<string> Names => _values.Keys;

    public bool Has(string name) => _values.ContainsKey(name);

    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v : null;

    public int Int(string name, int fallback) => Get(name) is { } v
        ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new ArgumentException($"--{name} needs a whole number")
        : fallback;

    public double Double(string name, double fallback) => Get(name) is { } v
        ? double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) ? n : throw new ArgumentException($"--{name} needs a number")
        : fallback;
}
