using System.Text.Json;

namespace Messenger.TestNode;

/// <summary>A command read from stdin: a JSON object such as {"cmd":"send","to":"b","text":"hi","topic":"t","id":"r1"},
/// or words: "send &lt;peer&gt; &lt;text&gt;", "broadcast &lt;text&gt;", "peers", "wait &lt;peer&gt;...", "stop".
/// An "id" given in JSON comes back as "requestId" in the answer.</summary>
internal sealed record Command(string Name, string? To, string? Text, string? Topic, string[] Peers, int TimeoutMs, string? RequestId)
{
    public const int DefaultWaitMs = 30_000;

    /// <summary>Parses one line; null for a blank line. Throws <see cref="FormatException"/> on anything else
    /// it cannot read.</summary>
    public static Command? Parse(string line)
    {
        var text = line.Trim();
        if (text.Length == 0) return null;
        return text[0] == '{' ? FromJson(text) : FromWords(text);
    }

    private static Command FromWords(string text)
    {
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        var verb = (space < 0 ? text : text[..space]).ToLowerInvariant();
        var rest = space < 0 ? "" : text[(space + 1)..].TrimStart();
        switch (verb)
        {
            case "send":
                var gap = rest.IndexOf(' ', StringComparison.Ordinal);
                if (gap <= 0) throw new FormatException("usage: send <peer> <text>");
                return new Command("send", rest[..gap], rest[(gap + 1)..], null, [], 0, null);
            case "broadcast":
                return new Command("broadcast", null, rest, null, [], 0, null);
            case "wait":
                var names = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (names.Length == 0) throw new FormatException("usage: wait <peer> [<peer>...]");
                return new Command("wait", null, null, null, names, DefaultWaitMs, null);
            case "peers" or "stop" or "info":
                if (rest.Length > 0) throw new FormatException($"'{verb}' takes no arguments");
                return new Command(verb, null, null, null, [], 0, null);
            default:
                throw new FormatException($"unknown command '{verb}': use send, broadcast, peers, wait, info or stop");
        }
    }

    private static Command FromJson(string text)
    {
        using var doc = ParseJson(text);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException("a JSON command is an object");
        var name = String(root, "cmd") ?? String(root, "command") ?? throw new FormatException("a JSON command needs \"cmd\"");
        name = name.ToLowerInvariant();
        var id = root.TryGetProperty("id", out var idValue) ? idValue.ToString() : null;
        var peers = root.TryGetProperty("peers", out var list)
            ? list.ValueKind == JsonValueKind.Array
                ? list.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new FormatException("\"peers\" lists names")).ToArray()
                : throw new FormatException("\"peers\" is an array of names")
            : [];
        var timeout = root.TryGetProperty("timeoutMs", out var t)
            ? t.ValueKind == JsonValueKind.Number && t.TryGetInt32(out var ms) && ms >= 0 ? ms : throw new FormatException("\"timeoutMs\" is a whole number of milliseconds")
            : DefaultWaitMs;
        var command = new Command(name, String(root, "to"), String(root, "text"), String(root, "topic"), peers, timeout, id);
        return name switch
        {
            "send" when command.To is null || command.Text is null => throw new FormatException("send needs \"to\" and \"text\""),
            "broadcast" when command.Text is null => throw new FormatException("broadcast needs \"text\""),
            "wait" when peers.Length == 0 => throw new FormatException("wait needs \"peers\""),
            "send" or "broadcast" or "wait" or "peers" or "stop" or "info" => command,
            _ => throw new FormatException($"unknown command '{name}': use send, broadcast, peers, wait, info or stop"),
        };
    }

    private static JsonDocument ParseJson(string text)
    {
        try
        {
            return JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new FormatException($"not valid JSON: {e.Message}", e);
        }
    }

    private static string? String(JsonElement root, string property) =>
        !root.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null
            ? null
            : value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : throw new FormatException($"\"{property}\" is a string");
}
