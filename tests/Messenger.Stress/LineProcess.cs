using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Messenger.Stress;

/// <summary>One line of a child's stdout: a JSON object with "event" and, from test nodes, "ts" (CLOCK_MONOTONIC ms).</summary>
internal sealed record LineEvent(string Kind, double Ts, JsonElement Json, string Line)
{
    public string? this[string property] =>
        Json.TryGetProperty(property, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString() : v.ToString() : null;

    public string? Peer => this["peer"];

    public double Number(string property) => Json.TryGetProperty(property, out var v) && v.TryGetDouble(out var d) ? d : double.NaN;

    public static LineEvent? TryParse(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement.Clone();
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("event", out var kind)) return null;
            var ts = root.TryGetProperty("ts", out var t) && t.TryGetDouble(out var d) ? d : Clock.Now();
            return new LineEvent(kind.GetString() ?? "", ts, root, line);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>CLOCK_MONOTONIC in milliseconds: the clock test nodes stamp their events with, in every process and
/// network namespace of the machine.</summary>
internal static class Clock
{
    public static double Now() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;
}

/// <summary>
/// A child process that prints JSON lines (a Messenger.TestNode, or this program in a child role), optionally
/// inside a network namespace (ip netns exec). Records every event; a caller waits for one with a timeout and
/// fails at once if the process ends. Dispose stops it (stdin closed, then kill) so that nothing outlives a run.
/// </summary>
internal sealed class LineProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<LineEvent> _events = [];
    private readonly List<string> _stderr = [];
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private LineProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }
    public int Pid => _process.Id;
    public bool HasExited => _exited.Task.IsCompleted;
    public double StartedAt { get; private set; }

    public int Mark
    {
        get { lock (_gate) return _events.Count; }
    }

    public IReadOnlyList<LineEvent> Events
    {
        get { lock (_gate) return [.. _events]; }
    }

    public IEnumerable<LineEvent> EventsSince(int mark) => Events.Skip(mark);

    /// <summary>Starts <paramref name="file"/> with <paramref name="args"/>, inside namespace <paramref name="netns"/> when given.</summary>
    public static LineProcess Start(string name, string file, IEnumerable<string> args, string? netns = null, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(netns is null ? file : Lab.IpCommand ?? "ip")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        // ip netns exec execs the command in place: the process started is the node itself, so kill -9 hits it.
        if (netns is not null)
        {
            foreach (var a in new[] { "netns", "exec", netns, file }) info.ArgumentList.Add(a);
        }
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_gcServer"] = "0";
        info.Environment.Remove("MESSENGER_BEACON_INTERFACE");
        if (environment is not null)
        {
            foreach (var (k, v) in environment) info.Environment[k] = v;
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new LineProcess(process, name);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => child.OnErrorLine(e.Data);
        process.Exited += (_, _) => child.OnExited();
        child.StartedAt = Clock.Now();
        if (!process.Start()) throw new InvalidOperationException($"cannot start {name}");
        Live.Add(child);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Every child still running; killed when this process exits, whatever happened.</summary>
    private static readonly HashSet<LineProcess> LiveSet = [];
    private static readonly Lock LiveGate = new();

    private static class Live
    {
        static Live()
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
            Console.CancelKeyPress += (_, _) => KillAll();
        }

        public static void Add(LineProcess p)
        {
            lock (LiveGate) LiveSet.Add(p);
        }
    }

    public static void KillAll()
    {
        List<LineProcess> all;
        lock (LiveGate) all = [.. LiveSet];
        foreach (var p in all) p.KillQuietly();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            _outputClosed.TrySetResult();
            Signal();
            return;
        }
        var e = LineEvent.TryParse(line);
        lock (_gate)
        {
            if (e is not null) _events.Add(e);
            else _stderr.Add($"(stdout) {line}");
        }
        Signal();
    }

    private void OnErrorLine(string? line)
    {
        if (line is null) return;
        lock (_gate)
        {
            _stderr.Add(line);
            if (_stderr.Count > 400) _stderr.RemoveRange(0, 200);
        }
    }

    private void OnExited()
    {
        _exited.TrySetResult();
        lock (LiveGate) LiveSet.Remove(this);
        Signal();
    }

    private void Signal()
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>The first event at or after index <paramref name="after"/> that matches; throws
    /// <see cref="TimeoutException"/> (with the transcript) when none comes in time or the process ends first.</summary>
    public async Task<LineEvent> WaitAsync(Func<LineEvent, bool> match, TimeSpan timeout, string what, int after = 0)
    {
        using var cts = new CancellationTokenSource(timeout);
        var scanned = after;
        while (true)
        {
            Task changed;
            bool ended;
            lock (_gate)
            {
                for (; scanned < _events.Count; scanned++)
                {
                    if (match(_events[scanned])) return _events[scanned];
                }
                changed = _changed.Task;
                ended = _outputClosed.Task.IsCompleted;
            }
            if (ended) throw new TimeoutException($"{Name} ended before '{what}'\n{Transcript()}");
            try
            {
                await changed.WaitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{Name}: no '{what}' within {timeout.TotalSeconds:0.#} s\n{Transcript()}");
            }
        }
    }

    /// <summary>Writes a command line to stdin; false when the process is gone.</summary>
    public bool Send(string line)
    {
        try
        {
            _process.StandardInput.WriteLine(line);
            _process.StandardInput.Flush();
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Sends a JSON command with a fresh "id" and waits for the line that answers it ("requestId").</summary>
    public async Task<LineEvent> RequestAsync(object command, TimeSpan timeout, string what)
    {
        var id = Guid.NewGuid().ToString("N");
        var mark = Mark;
        var json = JsonSerializer.SerializeToElement(command);
        var withId = new Dictionary<string, object?>();
        foreach (var p in json.EnumerateObject()) withId[p.Name] = p.Value;
        withId["id"] = id;
        Send(JsonSerializer.Serialize(withId));
        return await WaitAsync(e => e["requestId"] == id, timeout, what, mark).ConfigureAwait(false);
    }

    /// <summary>kill -9; returns the monotonic time (ms) just before the signal.</summary>
    public double Kill()
    {
        var at = Clock.Now();
        _process.Kill();
        return at;
    }

    public Task WaitForExitAsync(TimeSpan timeout) => _exited.Task.WaitAsync(timeout);

    private void KillQuietly()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
        }
    }

    public string Transcript(int lines = 40)
    {
        lock (_gate)
        {
            var sb = new StringBuilder();
            sb.AppendLine($"--- {Name} (pid {(HasExited ? "exited" : _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture))}): last events");
            foreach (var e in _events.TakeLast(lines)) sb.AppendLine(e.Line);
            if (_stderr.Count > 0)
            {
                sb.AppendLine($"--- {Name} stderr");
                foreach (var l in _stderr.TakeLast(lines)) sb.AppendLine(l);
            }
            return sb.ToString();
        }
    }

    /// <summary>Asks the child to stop ("stop" on stdin, then end of input) and kills it after the timeout.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (!HasExited)
        {
            Send("stop");
            try
            {
                _process.StandardInput.Close();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
            }
        }
        try
        {
            await _exited.Task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            KillQuietly();
            await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        finally
        {
            KillQuietly();
            _process.Dispose();
        }
    }

    /// <summary>The command that runs this program again (the apphost, or dotnet with this assembly).</summary>
    public static (string File, string[] Prefix) Self()
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        return Path.GetFileNameWithoutExtension(path) == "dotnet"
            ? (path, [typeof(LineProcess).Assembly.Location])
            : (path, []);
    }

    /// <summary>The dotnet host, to run a framework-dependent dll (the test node) with.</summary>
    public static string DotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk)) return fromSdk;
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        // <root>/shared/Microsoft.NETCore.App/<version>/ -> <root>/dotnet
        var runtime = RuntimeEnvironment.GetRuntimeDirectory();
        var root = Path.GetFullPath(Path.Combine(runtime, "..", "..", ".."));
        var candidate = Path.Combine(root, "dotnet");
        return File.Exists(candidate) ? candidate : "dotnet";
    }
}
