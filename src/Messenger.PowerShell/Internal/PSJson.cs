using System.Buffers;
using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Numerics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// JSON for message bodies that are neither strings nor byte arrays, with the conventions of ConvertTo-Json and
/// ConvertFrom-Json: hashtables and PSCustomObjects become JSON objects, lists become arrays, enums numbers, dates
/// ISO 8601 strings; on the way back objects become PSCustomObjects, integers Int64 (BigInteger past it), and
/// ISO 8601 date-time strings DateTime. Beyond <see cref="Writer.Depth"/> levels a value is written as its string.
/// </summary>
internal static partial class PSJson
{
    /// <summary>Serializes values into one reused buffer; not thread-safe (one per cmdlet invocation).</summary>
    internal sealed class Writer
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(256);
        private readonly Utf8JsonWriter _json;

        public Writer(int depth)
        {
            Depth = depth;
            _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true, Indented = false });
        }

        /// <summary>How many levels of objects and arrays are written before values turn into strings.</summary>
        public int Depth { get; }

        /// <summary>The UTF-8 JSON of <paramref name="value"/>; valid until the next call. Writing stops soon after
        /// the JSON passes <paramref name="maxBytes"/> (then what is returned is longer than that, and cut short): an
        /// object graph can be vast at the default depth, a self-referencing hashtable gigabytes.</summary>
        public ReadOnlyMemory<byte> Write(object? value, int maxBytes = int.MaxValue)
        {
            _buffer.ResetWrittenCount();
            _json.Reset();
            try
            {
                WriteValue(_json, value, 0, Depth, maxBytes);
            }
            catch (TooLongException)
            {
                // Cut short: not valid JSON, and never sent.
            }
            _json.Flush();
            return _buffer.WrittenMemory;
        }
    }

    private sealed class TooLongException : Exception;

    /// <summary>Serializes one value to a new array.</summary>
    public static byte[] Serialize(object? value, int depth = 10) => new Writer(depth).Write(value).ToArray();

    private static void WriteValue(Utf8JsonWriter json, object? value, int level, int depth, int maxBytes)
    {
        if (json.BytesPending + json.BytesCommitted > maxBytes) throw new TooLongException();
        PSObject? wrapper = null;
        if (value is PSObject pso)
        {
            wrapper = pso;
            value = pso.BaseObject;
        }
        switch (value)
        {
            case null:
            case DBNull:
                json.WriteNullValue();
                return;
            case string s:
                json.WriteStringValue(s);
                return;
            case char c:
                json.WriteStringValue(c.ToString());
                return;
            case bool b:
                json.WriteBooleanValue(b);
                return;
            case Enum e:
                json.WriteNumberValue(System.Convert.ToInt64(e, CultureInfo.InvariantCulture));
                return;
            case int i:
                json.WriteNumberValue(i);
                return;
            case long l:
                json.WriteNumberValue(l);
                return;
            case byte or sbyte or short or ushort or uint:
                json.WriteNumberValue(System.Convert.ToInt64(value, CultureInfo.InvariantCulture));
                return;
            case ulong ul:
                json.WriteNumberValue(ul);
                return;
            case double d:
                if (double.IsFinite(d)) json.WriteNumberValue(d);
                else json.WriteStringValue(d.ToString(CultureInfo.InvariantCulture));
                return;
            case float f:
                if (float.IsFinite(f)) json.WriteNumberValue(f);
                else json.WriteStringValue(f.ToString(CultureInfo.InvariantCulture));
                return;
            case decimal m:
                json.WriteNumberValue(m);
                return;
            case BigInteger big:
                json.WriteRawValue(big.ToString(CultureInfo.InvariantCulture), skipInputValidation: true);
                return;
            case DateTime dt:
                json.WriteStringValue(dt.ToString("o", CultureInfo.InvariantCulture));
                return;
            case DateTimeOffset dto:
                json.WriteStringValue(dto.ToString("o", CultureInfo.InvariantCulture));
                return;
            case TimeSpan ts:
                json.WriteStringValue(ts.ToString("c", CultureInfo.InvariantCulture));
                return;
            case Guid g:
                json.WriteStringValue(g.ToString());
                return;
            case Uri u:
                json.WriteStringValue(u.OriginalString);
                return;
            case Version v:
                json.WriteStringValue(v.ToString());
                return;
            case ScriptBlock sb:
                json.WriteStringValue(sb.ToString());
                return;
        }

        if (level >= depth)
        {
            json.WriteStringValue(wrapper?.ToString() ?? value.ToString());
            return;
        }

        switch (value)
        {
            case PSCustomObject:
                json.WriteStartObject();
                foreach (var property in wrapper!.Properties)
                {
                    json.WritePropertyName(property.Name);
                    WriteValue(json, SafeValue(property), level + 1, depth, maxBytes);
                }
                json.WriteEndObject();
                return;
            case IDictionary dictionary:
                json.WriteStartObject();
                foreach (DictionaryEntry entry in dictionary)
                {
                    json.WritePropertyName(System.Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? string.Empty);
                    WriteValue(json, entry.Value, level + 1, depth, maxBytes);
                }
                json.WriteEndObject();
                return;
            case IEnumerable enumerable:
                json.WriteStartArray();
                foreach (var item in enumerable) WriteValue(json, item, level + 1, depth, maxBytes);
                json.WriteEndArray();
                return;
        }

        // Any other object: its public properties, as PowerShell sees them (adapted and extended ones).
        json.WriteStartObject();
        foreach (var property in (wrapper ?? PSObject.AsPSObject(value)).Properties)
        {
            if (!property.IsGettable) continue;
            json.WritePropertyName(property.Name);
            WriteValue(json, SafeValue(property), level + 1, depth, maxBytes);
        }
        json.WriteEndObject();
    }

    private static object? SafeValue(PSPropertyInfo property)
    {
        try
        {
            return property.Value;
        }
        catch (GetValueException)
        {
            return null;
        }
        catch (ExtendedTypeSystemException)
        {
            return null;
        }
    }

    /// <summary>Parses a UTF-8 JSON document as ConvertFrom-Json would.</summary>
    /// <exception cref="JsonException">It is not valid JSON.</exception>
    public static object? Deserialize(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 1024 });
        using var document = JsonDocument.ParseValue(ref reader);
        return ToPowerShell(document.RootElement);
    }

    private static object? ToPowerShell(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var result = new PSObject();
                foreach (var property in element.EnumerateObject())
                {
                    result.Properties.Add(new PSNoteProperty(property.Name, ToPowerShell(property.Value)));
                }
                return result;
            case JsonValueKind.Array:
                var items = new object?[element.GetArrayLength()];
                var index = 0;
                foreach (var item in element.EnumerateArray()) items[index++] = ToPowerShell(item);
                return items;
            case JsonValueKind.String:
                var text = element.GetString()!;
                return LooksLikeDate(text) && DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var date)
                    ? date
                    : text;
            case JsonValueKind.Number:
                if (element.TryGetInt64(out var integer)) return integer;
                var raw = element.GetRawText();
                if (raw.AsSpan().IndexOfAny('.', 'e', 'E') < 0 && BigInteger.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var big)) return big;
                return element.GetDouble();
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                return null;
        }
    }

    // ConvertFrom-Json turns ISO 8601 date-times (date, 'T', time) into DateTime; plain dates stay strings.
    private static bool LooksLikeDate(string text) => text.Length >= 19 && text[4] == '-' && text[10] == 'T' && IsoDateTime().IsMatch(text);

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$", RegexOptions.CultureInvariant)]
    private static partial Regex IsoDateTime();
}
