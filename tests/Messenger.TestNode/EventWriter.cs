using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Messenger.TestNode;

/// <summary>Writes one JSON object per line to stdout, whole lines only, from any thread. Every object has
/// "event" and "ts": CLOCK_MONOTONIC in milliseconds (Stopwatch), the same clock in every process of the
/// machine, network namespaces included, so a test can subtract its own timestamps from a node's.</summary>
internal sealed class EventWriter
{
    // Plain quotes and apostrophes in the output: it is read by tests and people, never embedded in HTML.
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly TextWriter _out;
    private readonly Lock _gate = new();

    public EventWriter(TextWriter output) => _out = output;

    public string? Node { get; set; }

    public static double MonotonicMilliseconds() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    public void Write(string kind, Action<Utf8JsonWriter>? fields = null)
    {
        var ts = MonotonicMilliseconds();
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer, Options))
        {
            json.WriteStartObject();
            json.WriteString("event", kind);
            if (Node is not null) json.WriteString("node", Node);
            json.WriteNumber("ts", Math.Round(ts, 3));
            fields?.Invoke(json);
            json.WriteEndObject();
        }
        var line = Encoding.UTF8.GetString(buffer.WrittenSpan);
        lock (_gate)
        {
            try
            {
                _out.WriteLine(line);
                _out.Flush();
            }
            catch (IOException)
            {
                // stdout is gone (the test that read it ended): stdin ends too, and the node stops.
            }
        }
    }

    public void Error(string message, string? errorId = null, string? input = null, string? requestId = null) =>
        Write("error", json =>
        {
            json.WriteString("message", message);
            if (errorId is not null) json.WriteString("errorId", errorId);
            if (input is not null) json.WriteString("input", input);
            if (requestId is not null) json.WriteString("requestId", requestId);
        });
}
