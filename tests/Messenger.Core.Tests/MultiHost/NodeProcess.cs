using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Messenger.Tests.MultiHost;

/// <summary>One line of a test node's stdout: a JSON object with "event" and "ts" (CLOCK_MONOTONIC, ms).</summary>
internal sealed record NodeEvent(string Kind, double Ts, JsonElement Json, string Line)
{
    public string? this[string property] =>
        Json.TryGetProperty(property, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString() : v.ToString() : null;

    /// <summary>The peer a peer event is about.</summary>
    public string? Peer => this["peer"];

    public static NodeEvent? TryParse(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement.Clone();
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("event", out var kind)) return null;
            var ts = root.TryGetProperty("ts", out var t) && t.TryGetDouble(out var d) ? d : 0;
            return new NodeEvent(kind.GetString() ?? "", ts, root, line);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// A Messenger.TestNode process running inside a lab host (ip netns exec &lt;ns&gt; dotnet Messenger.TestNode.dll ...).
/// Records every event it prints and lets a test wait for one, with a timeout, failing at once if the process
/// ends. <see cref="Mark"/> and the <c>after</c> arguments let a test wait only for what came after a point.
/// </summary>
internal sealed class NodeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ITestOutputHelper _output;
    private readonly List<NodeEvent> _events = [];
    private readonly List<string> _stderr = [];
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private NodeProcess(Process process, LabHost host, string name, ITestOutputHelper output)
    {
        _process = process;
        Host = host;
        Name = name;
        _output = output;
    }

    public string Name { get; }
    public LabHost Host { get; }
    public int Pid => _process.Id;
    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>The "started" event: name, id, endpoint, publishEndpoint, ...</summary>
    public NodeEvent? Started { get; private set; }

    public string Id => Started?["id"] ?? throw new InvalidOperationException($"{Name} has not started");
    public string Endpoint => Started?["endpoint"] ?? throw new InvalidOperationException($"{Name} has not started");

    /// <summary>How many events were recorded so far: pass it as <c>after</c> to wait only for later ones.</summary>
    public int Mark
    {
        get { lock (_gate) return _events.Count; }
    }

    public IReadOnlyList<NodeEvent> Events
    {
        get { lock (_gate) return [.. _events]; }
    }

    /// <summary>The CLOCK_MONOTONIC reading of this process in ms: the clock of the nodes' "ts".</summary>
    public static double Now() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    public static NodeProcess Start(string ip, LabHost host, string name, IEnumerable<string> args, string messengerHome, ITestOutputHelper output)
    {
        var info = new ProcessStartInfo(ip)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        // ip netns exec execs the command in place: the process we start is the node itself, so kill -9 hits it.
        foreach (var a in new[] { "netns", "exec", host.Namespace, TestNodeLocator.DotnetHost(), TestNodeLocator.DllPath }) info.ArgumentList.Add(a);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["MESSENGER_HOME"] = messengerHome;
        info.Environment.Remove("MESSENGER_BEACON_INTERFACE"); // the tests choose the interface, or mean the default
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_gcServer"] = "0";

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var node = new NodeProcess(process, host, name, output);
        process.OutputDataReceived += (_, e) => node.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => node.OnErrorLine(e.Data);
        process.Exited += (_, _) => node.OnExited();
        if (!process.Start()) throw new InvalidOperationException($"cannot start node {name}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            _outputClosed.TrySetResult();
            Signal();
            return;
        }
        var e = NodeEvent.TryParse(line);
        lock (_gate)
        {
            if (e is not null)
            {
                _events.Add(e);
                if (e.Kind == "started") Started ??= e;
            }
            else
            {
                _stderr.Add($"(stdout, not JSON) {line}");
            }
        }
        Signal();
    }

    private void OnErrorLine(string? line)
    {
        if (line is null) return;
        lock (_gate) _stderr.Add(line);
    }

    private void OnExited()
    {
        _exited.TrySetResult();
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

    public async Task WaitForStartAsync(TimeSpan timeout)
    {
        var started = await WaitAsync(e => e.Kind == "started" || e.Kind == "error", timeout, "started");
        if (started.Kind == "error") throw new InvalidOperationException($"node {Name} did not start: {started["message"]}\n{Transcript()}");
    }

    /// <summary>Waits for the first event at or after index <paramref name="after"/> that matches.</summary>
    /// <exception cref="TimeoutException">None came in time, or the process ended first; the message holds the
    /// node's transcript.</exception>
    public async Task<NodeEvent> WaitAsync(Func<NodeEvent, bool> match, TimeSpan timeout, string what, int after = 0)
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
                // The end of stdout, read after every line it held: nothing more can come.
                ended = _outputClosed.Task.IsCompleted;
            }
            if (ended)
            {
                if (!await WaitQuietlyAsync(_exited.Task, TimeSpan.FromSeconds(5))) throw Failure($"{Name} closed its output before '{what}'");
                throw Failure($"{Name} exited (code {_process.ExitCode}) before '{what}'");
            }
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw Failure($"{Name} printed no '{what}' within {timeout.TotalSeconds:0.#} s");
            }
        }
    }

    private static async Task<bool> WaitQuietlyAsync(Task task, TimeSpan timeout)
    {
        try
        {
            await task.WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Waits for a peer event ("joined", "unreachable", "left") about <paramref name="peer"/>.</summary>
    public Task<NodeEvent> WaitForPeerEventAsync(string kind, string peer, TimeSpan timeout, int after = 0) =>
        WaitAsync(e => e.Kind == kind && e.Peer == peer, timeout, $"{kind} {peer}", after);

    /// <summary>Waits for a message of that kind and text from <paramref name="from"/>.</summary>
    public Task<NodeEvent> WaitForMessageAsync(string from, string kind, string text, TimeSpan timeout, int after = 0) =>
        WaitAsync(e => e.Kind == "message" && e["from"] == from && e["kind"] == kind && e["text"] == text, timeout, $"{kind} message '{text}' from {from}", after);

    /// <summary>Writes a command line to the node's stdin.</summary>
    public void Send(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>Sends a unicast through the JSON form of the command and waits until the node queued it.</summary>
    public async Task SendToAsync(string to, string text, TimeSpan timeout)
    {
        var id = Guid.NewGuid().ToString("N");
        var mark = Mark;
        Send(JsonSerializer.Serialize(new { cmd = "send", to, text, id }));
        var answer = await WaitAsync(e => e["requestId"] == id, timeout, $"answer to send {to}", mark);
        if (answer.Kind != "sent") throw new InvalidOperationException($"{Name} could not send to {to}: {answer.Line}");
    }

    /// <summary>Broadcasts through the JSON form of the command and waits until the node queued it.</summary>
    public async Task BroadcastAsync(string text, TimeSpan timeout)
    {
        var id = Guid.NewGuid().ToString("N");
        var mark = Mark;
        Send(JsonSerializer.Serialize(new { cmd = "broadcast", text, id }));
        var answer = await WaitAsync(e => e["requestId"] == id, timeout, "answer to broadcast", mark);
        if (answer.Kind != "sent") throw new InvalidOperationException($"{Name} could not broadcast: {answer.Line}");
    }

    /// <summary>Asks for the node's "info" (name, id, endpoints, statistics) and returns it.</summary>
    public Task<NodeEvent> InfoAsync(TimeSpan timeout) => AskAsync(id => new { cmd = "info", id }, "info", timeout);

    /// <summary>Asks for the node's peer table ("peers": every peer it knows of, in any state) and returns it.</summary>
    public Task<NodeEvent> PeersAsync(TimeSpan timeout) => AskAsync(id => new { cmd = "peers", id }, "peers", timeout);

    /// <summary>Asks the node to wait until the named peers are connected ("wait") and returns its answer: "waited",
    /// or once <paramref name="nodeTimeout"/> has passed on the node's clock an "error" with errorId PeerWaitTimeout.
    /// <paramref name="timeout"/> is how long the test waits for that answer.</summary>
    public Task<NodeEvent> WaitForPeersAsync(IReadOnlyList<string> peers, TimeSpan nodeTimeout, TimeSpan timeout) =>
        AskAsync(id => new { cmd = "wait", peers, timeoutMs = (int)nodeTimeout.TotalMilliseconds, id }, $"answer to wait {string.Join(' ', peers)}", timeout);

    /// <summary>Sends a JSON command made with a fresh request id and returns the node's answer to it.</summary>
    private async Task<NodeEvent> AskAsync(Func<string, object> command, string what, TimeSpan timeout)
    {
        var id = Guid.NewGuid().ToString("N");
        var mark = Mark;
        Send(JsonSerializer.Serialize(command(id)));
        return await WaitAsync(e => e["requestId"] == id, timeout, what, mark);
    }

    /// <summary>kill -9: returns the CLOCK_MONOTONIC time (ms) just before the signal.</summary>
    public double Kill()
    {
        var at = Now();
        _process.Kill(); // SIGKILL on Unix
        return at;
    }

    /// <summary>Asks the node to stop ("stop" on stdin) and waits for it to exit; kills it after the timeout.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        if (!HasExited)
        {
            try
            {
                Send("stop");
            }
            catch (IOException)
            {
            }
        }
        if (!await WaitQuietlyAsync(_exited.Task, timeout))
        {
            _process.Kill();
            await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10));
            throw new TimeoutException($"{Name} did not stop within {timeout.TotalSeconds} s; killed\n{Transcript()}");
        }
        await _process.WaitForExitAsync(); // drains stdout
        return _process.ExitCode;
    }

    /// <summary>Waits for the process to end (after <see cref="Kill"/>).</summary>
    public Task WaitForExitAsync(TimeSpan timeout) => _exited.Task.WaitAsync(timeout);

    /// <summary>The node's output so far, for failure messages.</summary>
    public string Transcript(int lines = 60)
    {
        lock (_gate)
        {
            var sb = new StringBuilder();
            sb.AppendLine($"--- {Name} on {Host.Namespace} (pid {_process.Id}{(HasExited ? $", exited {_process.ExitCode}" : "")}): last events");
            foreach (var e in _events.TakeLast(lines)) sb.AppendLine(e.Line);
            if (_stderr.Count > 0)
            {
                sb.AppendLine($"--- {Name} stderr");
                foreach (var l in _stderr.TakeLast(lines)) sb.AppendLine(l);
            }
            return sb.ToString();
        }
    }

    private TimeoutException Failure(string message) => new($"{message}\n{Transcript()}");

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            if (!HasExited)
            {
                try
                {
                    await StopAsync(TimeSpan.FromSeconds(5));
                }
                catch (Exception e) when (e is TimeoutException or InvalidOperationException)
                {
                    _output.WriteLine($"{Name}: {e.Message}");
                }
            }
        }
        finally
        {
            if (!HasExited)
            {
                try
                {
                    _process.Kill();
                }
                catch (InvalidOperationException)
                {
                }
            }
            _process.Dispose();
        }
    }
}
