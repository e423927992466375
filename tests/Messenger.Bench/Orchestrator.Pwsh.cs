using System.Globalization;

namespace Messenger.Bench;

// The PowerShell rows (issue 4): the cmdlet path against a Messenger node in its own process.
internal sealed partial class Orchestrator
{
    /// <summary>What both pwsh scripts use: a status line to the Bench parent, and the probe of the process's own
    /// CPU, collections, allocation and GC pauses that the C# children take (see <see cref="Probe"/>).</summary>
    private const string CommonScript = """
        function Say([string]$Line) { [Console]::Out.WriteLine($Line); [Console]::Out.Flush() }
        function Probe {
            $self = [System.Diagnostics.Process]::GetCurrentProcess()
            @{ Ticks = [System.Diagnostics.Stopwatch]::GetTimestamp(); Cpu = $self.TotalProcessorTime.TotalMilliseconds
               Gen0 = [GC]::CollectionCount(0); Gen1 = [GC]::CollectionCount(1); Gen2 = [GC]::CollectionCount(2)
               Alloc = [GC]::GetTotalAllocatedBytes($false); Pause = [GC]::GetTotalPauseDuration().TotalMilliseconds }
        }
        # The window between two probes in the fields every Bench child reports (see Probe.Since).
        function Since($a, $b) {
            $rss = [long]([System.Diagnostics.Process]::GetCurrentProcess().PeakWorkingSet64 / 1MB)
            "start=$($a.Ticks) end=$($b.Ticks) cpu_ms=$([Math]::Round($b.Cpu - $a.Cpu, 1)) gc0=$($b.Gen0 - $a.Gen0) gc1=$($b.Gen1 - $a.Gen1) gc2=$($b.Gen2 - $a.Gen2) alloc_mb=$([Math]::Round(($b.Alloc - $a.Alloc) / 1MB, 1)) pause_ms=$([Math]::Round($b.Pause - $a.Pause, 1)) peak_rss_mb=$rss"
        }
        """;

    /// <summary>
    /// pwsh side of messenger-pwsh-send: node a sends an array of strings through the Send-MessengerMessage pipeline
    /// to node b (a Bench child). The clock starts just before the measured pipeline, in pwsh, and stops when b's
    /// reader yields the last message.
    /// </summary>
    private const string SendScript = """
        param([string]$Module, [string]$Cluster, [string]$Seed, [int]$Count, [int]$Warmup, [int]$Size, [int]$TimeoutSeconds, [switch]$NoBeacon)
        $ErrorActionPreference = 'Stop'
        . (Join-Path $PSScriptRoot 'common.ps1')
        try {
            Import-Module (Join-Path $Module 'Messenger.psd1')
            $start = @{ Name = 'a'; Cluster = $Cluster; BindAddress = '127.0.0.1'; BeaconInterface = 'lo' }
            $parameters = (Get-Command Start-MessengerNode).Parameters
            if ($parameters.ContainsKey('Seed')) { $start.Seed = @($Seed) }
            if ($NoBeacon -and $parameters.ContainsKey('NoBeacon')) { $start.NoBeacon = $true }
            $node = Start-MessengerNode @start
            $wait = @{ Name = 'b' }
            if ((Get-Command Wait-MessengerPeer).Parameters.ContainsKey('Timeout')) { $wait.Timeout = $TimeoutSeconds }
            $null = Wait-MessengerPeer @wait
            $body = 'x' * $Size
            $warm = , $body * $Warmup
            $items = , $body * $Count
            $warm | Send-MessengerMessage -To b
            $p0 = Probe
            $items | Send-MessengerMessage -To b
            $p1 = Probe
            $dropped = 'unknown'
            if ($node.PSObject.Properties['Statistics']) { $dropped = $node.Statistics.MessagesDropped }
            Say "@sent $(Since $p0 $p1) count=$Count dropped=$dropped"
            $null = [Console]::In.ReadLine()
            try { $node | Stop-MessengerNode -Confirm:$false } catch { }
        }
        catch {
            Say ("@error " + ($_.Exception.Message -replace '\s+', ' ') + " (at " + ($_.InvocationInfo.PositionMessage -replace '\s+', ' ') + ")")
            [Environment]::Exit(1)
        }
        [Environment]::Exit(0)
        """;

    /// <summary>
    /// pwsh side of messenger-pwsh-receive: node b (in pwsh) takes what node a (a Bench child) sends with
    /// Receive-MessengerMessage -Count. The clock starts when a begins the measured send and stops when the
    /// cmdlet has returned all of them.
    /// </summary>
    private const string ReceiveScript = """
        param([string]$Module, [string]$Cluster, [int]$Count, [int]$Warmup, [int]$TimeoutSeconds, [switch]$NoBeacon)
        $ErrorActionPreference = 'Stop'
        . (Join-Path $PSScriptRoot 'common.ps1')
        try {
            Import-Module (Join-Path $Module 'Messenger.psd1')
            $start = @{ Name = 'b'; Cluster = $Cluster; BindAddress = '127.0.0.1'; BeaconInterface = 'lo' }
            if ($NoBeacon -and (Get-Command Start-MessengerNode).Parameters.ContainsKey('NoBeacon')) { $start.NoBeacon = $true }
            $node = Start-MessengerNode @start
            Say "@ready endpoint=$($node.Endpoint)"
            $wait = @{ Name = 'a' }
            if ((Get-Command Wait-MessengerPeer).Parameters.ContainsKey('Timeout')) { $wait.Timeout = $TimeoutSeconds }
            $null = Wait-MessengerPeer @wait
            $warm = Receive-MessengerMessage -Count $Warmup -Timeout $TimeoutSeconds
            if (@($warm).Count -ne $Warmup) { throw "warm-up: received $(@($warm).Count) of $Warmup messages" }
            Say "@warm"
            $p0 = Probe
            $received = Receive-MessengerMessage -Count $Count -Timeout $TimeoutSeconds
            $p1 = Probe
            $n = @($received).Count
            $dropped = 'unknown'
            if ($node.PSObject.Properties['Statistics']) { $dropped = $node.Statistics.MessagesDropped }
            Say "@done $(Since $p0 $p1) received=$n dropped=$dropped"
            $null = [Console]::In.ReadLine()
            try { $node | Stop-MessengerNode -Confirm:$false } catch { }
        }
        catch {
            Say ("@error " + ($_.Exception.Message -replace '\s+', ' ') + " (at " + ($_.InvocationInfo.PositionMessage -replace '\s+', ' ') + ")")
            [Environment]::Exit(1)
        }
        [Environment]::Exit(0)
        """;

    private string? _scripts;
    private (string FileName, string[] Prefix, string? WorkingDirectory) _pwsh;

    private async Task RunPwshAsync()
    {
        if (!_settings.Selected("messenger-pwsh-send") && !_settings.Selected("messenger-pwsh-receive")) return;
        var reason = _settings.SkipPwsh ? "--skip-pwsh was given"
            : _settings.Module is null ? "no --module folder was given"
            : !File.Exists(Path.Combine(_settings.Module, "Messenger.psd1")) ? $"the module folder {_settings.Module} has no Messenger.psd1 (the PowerShell module is not built yet)"
            : _settings.Pwsh is null ? "no --pwsh was given"
            : null;
        if (reason is null)
        {
            try
            {
                _pwsh = ResolvePwsh(_settings.Pwsh!, _settings.Module!);
            }
            catch (BenchException e)
            {
                reason = e.Message;
            }
        }
        if (reason is not null)
        {
            var message = $"messenger-pwsh-send and messenger-pwsh-receive: {reason}";
            Console.WriteLine($"PowerShell rows skipped: {reason}");
            _skipped.Add(message);
            return;
        }

        _scripts = Directory.CreateTempSubdirectory("messenger-bench-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(_scripts, "common.ps1"), CommonScript).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(_scripts, "send.ps1"), SendScript).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(_scripts, "receive.ps1"), ReceiveScript).ConfigureAwait(false);
            var count = _settings.PwshCount;
            var note = $"{count:N0} strings of {Small} B";
            // As many runs as the other rows: one pwsh run moves 20% from the next, so a single one cannot judge a
            // ratio near its target.
            await MeasureRepeatedAsync(
                "PowerShell cmdlets against a node in another process, 64 B strings",
                _settings.Repeat,
                new Measurement("messenger-pwsh-send", Small, null, ct => PwshSendAsync(count, ct), note),
                new Measurement("messenger-pwsh-receive", Small, null, ct => PwshReceiveAsync(count, ct), note)).ConfigureAwait(false);
        }
        finally
        {
            Directory.Delete(_scripts, recursive: true);
        }
    }

    private async Task<Run> PwshSendAsync(long count, CancellationToken ct)
    {
        var warmup = PwshWarmup(count);
        var cluster = NewCluster();
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var receiver = g.Self("node b (receiver)", "messenger-recv", [.. Node("b", cluster, null), .. Common(Small, warmup, count), "--kind", "unicast", "--no-settle"]);
        var ready = await g.ExpectAsync(receiver, "ready", ct).ConfigureAwait(false);
        var pwsh = g.Add(StartPwsh("pwsh node a (Send-MessengerMessage)", "send.ps1",
            ["-Cluster", cluster, "-Seed", ready["endpoint"], "-Count", Str(count), "-Warmup", Str(warmup), "-Size", Str(Small)]));
        var sent = await g.ExpectAsync(pwsh, "sent", ct).ConfigureAwait(false);
        var done = await g.ExpectAsync(receiver, "done", ct).ConfigureAwait(false);
        var run = new Run { OtherLoad = g.OtherLoadPercent() };
        run.Values["msgs_per_s"] = count / Probe.Seconds(done.Long("end") - sent.Long("start"));
        run.Dropped = done.Long("dropped") + (long.TryParse(sent["dropped"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var d) ? d : 0);
        run.Lost = done.Long("lost");
        run.Disordered = done.Long("disordered");
        run.Notes.Add($"the pipeline itself took {Probe.Seconds(sent.Long("end") - sent.Long("start")):0.00} s ({count / Probe.Seconds(sent.Long("end") - sent.Long("start")):N0} strings/s); the figure runs to the last message read on node b");
        run.Costs.Add(Cost.From("pwsh node a (the pipeline)", sent, count));
        run.Costs.Add(Cost.From("node b (receiver)", done, count));
        return run;
    }

    private async Task<Run> PwshReceiveAsync(long count, CancellationToken ct)
    {
        var warmup = PwshWarmup(count);
        var cluster = NewCluster();
        await using var g = new ChildGroup(_settings, ChildEnvironment);
        var pwsh = g.Add(StartPwsh("pwsh node b (Receive-MessengerMessage)", "receive.ps1",
            ["-Cluster", cluster, "-Count", Str(count), "-Warmup", Str(warmup)]));
        var ready = await g.ExpectAsync(pwsh, "ready", ct).ConfigureAwait(false);
        var sender = g.Self("node a (sender)", "messenger-send", [.. Node("a", cluster, ready["endpoint"]), "--to", "b", "--size", Str(Small), "--timeout", Str(TimeoutSeconds)]);
        await g.ExpectAsync(sender, "ready", ct).ConfigureAwait(false);
        sender.Send($"send {warmup}");
        await g.ExpectAsync(pwsh, "warm", ct).ConfigureAwait(false);
        await g.ExpectAsync(sender, "sent", ct).ConfigureAwait(false);
        sender.Send($"send {count}");
        var sent = await g.ExpectAsync(sender, "sent", ct).ConfigureAwait(false);
        var done = await g.ExpectAsync(pwsh, "done", ct).ConfigureAwait(false);
        var received = done.Long("received");
        if (received != count) throw new BenchException($"Receive-MessengerMessage -Count {count} returned {received} messages");
        var run = new Run { OtherLoad = g.OtherLoadPercent() };
        run.Values["msgs_per_s"] = count / Probe.Seconds(done.Long("end") - sent.Long("start"));
        run.Dropped = sent.Long("dropped") + (long.TryParse(done["dropped"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var d) ? d : 0);
        if (done["dropped"] == "unknown") run.Notes.Add("the pwsh node object has no Statistics property, so its drop counter could not be read; the count was checked instead");
        run.Costs.Add(Cost.From("node a (sender)", sent, count));
        run.Costs.Add(Cost.From("pwsh node b (the cmdlet call)", done, count));
        return run;
    }

    /// <summary>Half the measured count: about a second and a half of pipeline, the time the JIT's tiering takes to
    /// settle on both sides (with 50,000, the receiving node was still compiling for a third of the window).</summary>
    private long PwshWarmup(long count) => Math.Max(5_000, count / 2);

    private Child StartPwsh(string label, string script, string[] args)
    {
        var all = new List<string>(_pwsh.Prefix) { "-NoProfile", "-NonInteractive", "-File", Path.Combine(_scripts!, script), "-Module", _settings.Module!, "-TimeoutSeconds", Str(TimeoutSeconds) };
        all.AddRange(args);
        if (_settings.NoBeacon) all.Add("-NoBeacon");
        return Child.Start(label, _settings.Verbose, ChildEnvironment, _pwsh.FileName, all, _pwsh.WorkingDirectory);
    }

    /// <summary>
    /// --pwsh may name a pwsh executable, a pwsh.dll, or dotnet itself: under `dotnet pwsh` (the local tool that
    /// build.ps1 runs in) the process path PowerShell reports is dotnet's. Then the child is `dotnet pwsh`, run
    /// where the tool manifest is.
    /// </summary>
    private static (string, string[], string?) ResolvePwsh(string path, string module)
    {
        var name = Path.GetFileNameWithoutExtension(path);
        if (path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(path)) throw new BenchException($"--pwsh {path} does not exist");
            return ("dotnet", [path], null);
        }
        if (string.Equals(name, "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            var manifest = FindUp(Directory.GetCurrentDirectory(), Path.Combine(".config", "dotnet-tools.json"))
                ?? FindUp(module, Path.Combine(".config", "dotnet-tools.json"))
                ?? FindUp(AppContext.BaseDirectory, Path.Combine(".config", "dotnet-tools.json"))
                ?? throw new BenchException($"--pwsh is {path} (dotnet), but no .config/dotnet-tools.json above {Directory.GetCurrentDirectory()} provides the local pwsh tool");
            return (path, ["pwsh"], manifest);
        }
        if (!File.Exists(path)) throw new BenchException($"--pwsh {path} does not exist");
        return (path, [], null);
    }

    private static string? FindUp(string from, string relative)
    {
        for (var dir = new DirectoryInfo(from); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, relative))) return dir.FullName;
        }
        return null;
    }
}
