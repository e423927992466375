using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;

namespace Messenger.Bench;

/// <summary>The parsed status line of a child: <c>@tag key=value ...</c>.</summary>
internal sealed class Fields
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    private Fields(string tag, string text)
    {
        Tag = tag;
        Text = text;
    }

    public string Tag { get; }

    /// <summary>Everything after the tag, as written.</summary>
    public string Text { get; }

    public static Fields Parse(string line)
    {
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        var tag = space < 0 ? line[1..] : line[1..space];
        var text = space < 0 ? "" : line[(space + 1)..];
        var fields = new Fields(tag, text);
        foreach (var part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0) fields._values[part[..eq]] = part[(eq + 1)..];
        }
        return fields;
    }

    public string this[string key] =>
        _values.TryGetValue(key, out var v) ? v : throw new BenchException($"status line '@{Tag} {Text}' has no {key}=");

    public bool Has(string key) => _values.ContainsKey(key);

    public long Long(string key) => long.Parse(this[key], NumberStyles.Integer, CultureInfo.InvariantCulture);

    public double Double(string key) => double.Parse(this[key], NumberStyles.Float, CultureInfo.InvariantCulture);

    public long LongOr(string key, long fallback) => Has(key) ? Long(key) : fallback;
}

/// <summary>
/// A child process the orchestrator started: its status lines (<c>@...</c> on stdout) arrive in order through
/// <see cref="ExpectAsync"/>; everything else it writes is kept (the last lines) to explain a failure.
/// </summary>
internal sealed class Child : IAsyncDisposable
{
    private const int TailLines = 25;

    private readonly Process _process;
    private readonly Channel<string> _status = Channel.CreateUnbounded<string>();
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly Task _stdout;
    private readonly Task _stderr;
    private readonly bool _verbose;
    private int _stopped;

    private Child(string label, ProcessStartInfo start, bool verbose)
    {
        Label = label;
        _verbose = verbose;
        start.UseShellExecute = false;
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        _process = Process.Start(start) ?? throw new BenchException($"{label}: could not start {start.FileName}");
        _process.StandardInput.AutoFlush = true;
        _stdout = PumpAsync(_process.StandardOutput, status: true);
        _stderr = PumpAsync(_process.StandardError, status: false);
    }

    public string Label { get; }

    public int Id => _process.Id;

    /// <summary>Raised (on a reader thread) when the child reports @error, with the message and its last output.</summary>
    public event Action<Child, string>? Failed;

    /// <summary>Starts this program again with a role.</summary>
    public static Child StartSelf(string label, bool verbose, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo();
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var exe = Environment.ProcessPath ?? "dotnet";
        if (string.Equals(Path.GetFileNameWithoutExtension(exe), "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            // Running as `dotnet Messenger.Bench.dll`: the child is `dotnet <this dll>`.
            start.FileName = exe;
            start.ArgumentList.Add(typeof(Child).Assembly.Location);
        }
        else
        {
            start.FileName = exe; // the apphost
        }
        foreach (var a in args) start.ArgumentList.Add(a);
        return new Child(label, start, verbose);
    }

    public static Child Start(string label, bool verbose, IReadOnlyDictionary<string, string> environment, string fileName, IEnumerable<string> args, string? workingDirectory)
    {
        var start = new ProcessStartInfo { FileName = fileName };
        foreach (var (key, value) in environment) start.Environment[key] = value;
        if (workingDirectory is not null) start.WorkingDirectory = workingDirectory;
        foreach (var a in args) start.ArgumentList.Add(a);
        return new Child(label, start, verbose);
    }

    /// <summary>Waits for the status line with this tag (earlier ones with other tags are skipped). An @error line,
    /// the child's exit or the token's cancellation ends the wait with a <see cref="BenchException"/>.</summary>
    public async Task<Fields> ExpectAsync(string tag, CancellationToken cancellationToken)
    {
        try
        {
            while (await _status.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (_status.Reader.TryRead(out var line))
                {
                    var fields = Fields.Parse(line);
                    if (fields.Tag == tag) return fields;
                    if (fields.Tag == "error") throw new BenchException($"{Label} failed: {fields.Text}{Tail()}");
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new BenchException($"{Label}: timed out waiting for '@{tag}'{Tail()}");
        }
        await _stderr.ConfigureAwait(false);
        await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        throw new BenchException($"{Label} exited with code {_process.ExitCode} before '@{tag}'{Tail()}");
    }

    public void Send(string command)
    {
        try
        {
            _process.StandardInput.WriteLine(command);
        }
        catch (IOException)
        {
            // it has exited; ExpectAsync reports that
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>Says stop and waits for the exit; a child that does not exit within the grace time is killed.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        Send("stop");
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
        }
        using var timer = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"  {Label} (pid {_process.Id}) did not exit within {grace.TotalSeconds:0} s of stop; killing it");
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        await Task.WhenAll(_stdout, _stderr).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _process.Dispose();
    }

    private string Tail()
    {
        var lines = _tail.ToArray();
        return lines.Length == 0 ? "" : $"{Environment.NewLine}    last output of {Label}:{Environment.NewLine}      " + string.Join(Environment.NewLine + "      ", lines);
    }

    private async Task PumpAsync(StreamReader reader, bool status)
    {
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            if (status && line.StartsWith('@'))
            {
                if (line.StartsWith("@error", StringComparison.Ordinal)) Failed?.Invoke(this, $"{Label} failed: {line[Math.Min(line.Length, 7)..]}{Tail()}");
                _status.Writer.TryWrite(line);
                if (_verbose) Console.Error.WriteLine($"  [{Label}] {line}");
                continue;
            }
            _tail.Enqueue(line);
            while (_tail.Count > TailLines) _tail.TryDequeue(out _);
            if (_verbose) Console.Error.WriteLine($"  [{Label}] {line}");
        }
        if (status) _status.Writer.TryComplete();
    }
}
