using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Messenger.Stress;

/// <summary>One figure of a run. <see cref="Target"/> and <see cref="Pass"/> are null for a figure reported for
/// information only; <see cref="Value"/> is null for a scenario that was skipped (the reason is in Target).</summary>
internal sealed record Measurement(
    [property: JsonPropertyName("scenario")] string Scenario,
    [property: JsonPropertyName("metric")] string Metric,
    [property: JsonPropertyName("value")] double? Value,
    [property: JsonPropertyName("unit")] string Unit,
    [property: JsonPropertyName("target")] string? Target,
    [property: JsonPropertyName("pass")] bool? Pass);

/// <summary>The rows of a run: printed as they come, then as one table, and written to latest.json.</summary>
internal sealed class Report
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };
    private readonly List<Measurement> _rows = [];
    private readonly Lock _gate = new();

    public IReadOnlyList<Measurement> Rows
    {
        get { lock (_gate) return [.. _rows]; }
    }

    public bool AnyFailed => Rows.Any(r => r.Pass == false);

    /// <summary>A figure with no target.</summary>
    public void Info(string scenario, string metric, double value, string unit) => Add(new(scenario, metric, Round(value), unit, null, null));

    /// <summary>A figure that must be at most <paramref name="max"/>.</summary>
    public void AtMost(string scenario, string metric, double value, string unit, double max) =>
        Add(new(scenario, metric, Round(value), unit, $"<= {Format(max)}", value <= max));

    /// <summary>A figure that must be under <paramref name="limit"/>.</summary>
    public void Below(string scenario, string metric, double value, string unit, double limit) =>
        Add(new(scenario, metric, Round(value), unit, $"< {Format(limit)}", value < limit));

    /// <summary>A figure that must be at least <paramref name="min"/>.</summary>
    public void AtLeast(string scenario, string metric, double value, string unit, double min) =>
        Add(new(scenario, metric, Round(value), unit, $">= {Format(min)}", value >= min));

    public void Exactly(string scenario, string metric, double value, string unit, double expected) =>
        Add(new(scenario, metric, Round(value), unit, $"= {Format(expected)}", value == expected));

    /// <summary>A yes/no outcome (value 1 or 0) that must be yes.</summary>
    public void Check(string scenario, string metric, bool ok, string target) =>
        Add(new(scenario, metric, ok ? 1 : 0, "yes=1", target, ok));

    public void Skipped(string scenario, string reason) => Add(new(scenario, "skipped", null, "", reason, null));

    /// <summary>A scenario that could not run to the end: a failed row with the reason.</summary>
    public void Error(string scenario, string what) => Add(new(scenario, "error: " + what, null, "", "ran to the end", false));

    private void Add(Measurement m)
    {
        lock (_gate) _rows.Add(m);
        Console.WriteLine($"  {Mark(m)} {m.Scenario} | {m.Metric}: {Show(m.Value)} {m.Unit}{(m.Target is null ? "" : $"  (target {m.Target})")}");
    }

    private static string Mark(Measurement m) => m.Pass switch { true => "PASS", false => "FAIL", null => "    " };

    private static double? Round(double v) => double.IsFinite(v) ? Math.Round(v, v is > -10 and < 10 ? 3 : 1) : null;

    private static string Show(double? v) => v is null ? "-" : Format(v.Value);

    public static string Format(double v) =>
        Math.Abs(v) >= 1000 ? v.ToString("#,0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture);

    public void PrintTable(TextWriter output)
    {
        var rows = Rows;
        string[] head = ["scenario", "metric", "value", "unit", "target", "pass"];
        var cells = rows.Select(r => new[]
        {
            r.Scenario, r.Metric, Show(r.Value), r.Unit, r.Target ?? "", r.Pass switch { true => "yes", false => "NO", null => "" },
        }).ToList();
        var widths = head.Select((h, i) => Math.Min(90, Math.Max(h.Length, cells.Count == 0 ? 0 : cells.Max(c => c[i].Length)))).ToArray();
        void Line(string[] c) => output.WriteLine(string.Join(" | ", c.Select((x, i) => i == 2 ? x.PadLeft(widths[i]) : Cut(x, widths[i]).PadRight(widths[i]))).TrimEnd());
        Line(head);
        output.WriteLine(string.Join("-|-", widths.Select(w => new string('-', w))));
        foreach (var c in cells) Line(c);
    }

    private static string Cut(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";

    public void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "latest.json");
        File.WriteAllText(path, JsonSerializer.Serialize(Rows, Json));
        Console.WriteLine($"Stress: {Rows.Count} figures written to {path}");
    }
}
