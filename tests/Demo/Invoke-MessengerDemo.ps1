#Requires -Version 7.4
<#
.SYNOPSIS
    The Messenger demo: three nodes in three child pwsh processes meet, talk, and see one leave.
.DESCRIPTION
    Starts three nodes (alpha, bravo, charlie) as three child pwsh processes on this machine, in a cluster of
    their own, bound to 127.0.0.1 with the beacon on the loopback interface. They find each other by beacon;
    each sends a text and an object to the next one round the ring and broadcasts a greeting; each checks that
    it received its unicast messages and both other broadcasts. Then charlie stops, and alpha and bravo report
    that it left. Prints an account of what happened, and exits 0 only when every step checked out.
    Bounded in time: the children are killed at the end whatever happens. The children are driven through
    their standard input and report on their standard output; there are no fixed sleeps. The run makes its own
    cluster key (New-MessengerClusterKey) in a temporary MESSENGER_HOME that the children inherit.
.PARAMETER ModulePath
    The folder of the built module (out/Messenger).
.PARAMETER TimeoutSeconds
    How long the whole demo may take.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Demo
.EXAMPLE
    pwsh tests/Demo/Invoke-MessengerDemo.ps1 -ModulePath ./out/Messenger
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $TimeoutSeconds = 60
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$ModulePath = (Resolve-Path $ModulePath).Path
$started = [System.Diagnostics.Stopwatch]::StartNew()
$deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
$cluster = "demo-$([guid]::NewGuid().ToString('n').Substring(0, 8))"
$names = 'alpha', 'bravo', 'charlie'
$children = [ordered]@{}
$checks = [System.Collections.Generic.List[object]]::new()
$oldHome = $env:MESSENGER_HOME
# A cluster key of this run's own: the children inherit MESSENGER_HOME and create and share it.
$env:MESSENGER_HOME = Join-Path ([IO.Path]::GetTempPath()) "messenger-demo-$([guid]::NewGuid().ToString('n'))"
if (-not $env:MESSENGER_BEACON_INTERFACE) { $env:MESSENGER_BEACON_INTERFACE = 'lo' }
# Each node logs there; the logs are shown when the demo fails.
$logs = Join-Path $env:MESSENGER_HOME 'logs'
# The run's cluster key, made before the nodes start so that they do not race to create it.
Import-Module (Join-Path $ModulePath 'Messenger.psd1')
$null = New-MessengerClusterKey -Path (Join-Path $env:MESSENGER_HOME 'cluster.key')

function Write-Step([string] $Who, [string] $Text, [string] $Color = 'Gray') {
    Write-Host ('[{0,5:0.0}s] ' -f $started.Elapsed.TotalSeconds) -NoNewline -ForegroundColor DarkGray
    Write-Host ('{0,-8} ' -f $Who) -NoNewline -ForegroundColor Cyan
    Write-Host $Text -ForegroundColor $Color
}

function Add-Check([string] $What, [bool] $Ok, [string] $Detail = '') {
    $checks.Add([pscustomobject]@{ What = $What; Ok = $Ok; Detail = $Detail })
    if (-not $Ok) { Write-Step 'CHECK' "failed: $What $Detail" 'Red' }
}

function Format-Body($Body) {
    if ($Body -is [string]) { return '"' + $Body + '"' }
    ($Body | ConvertTo-Json -Compress -Depth 4)
}

# The command that starts a child pwsh like this one. Under 'dotnet pwsh' (the local tool) this process is
# the dotnet host, so the child is 'dotnet <PSHOME>/pwsh.dll'.
function Get-PwshCommand {
    $path = (Get-Process -Id $PID).Path
    if ([IO.Path]::GetFileNameWithoutExtension($path) -eq 'dotnet') { return , @($path, (Join-Path $PSHOME 'pwsh.dll')) }
    , @($path)
}

function Start-DemoNode([string] $Name) {
    $pwsh = Get-PwshCommand
    $info = [System.Diagnostics.ProcessStartInfo]::new($pwsh[0])
    $arguments = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot 'DemoNode.ps1'),
        '-ModulePath', $ModulePath, '-Name', $Name, '-Cluster', $cluster, '-LifetimeSeconds', ($TimeoutSeconds + 30),
        '-LogPath', (Join-Path $logs "$Name.log"))
    foreach ($a in $arguments) { $info.ArgumentList.Add($a) }
    $info.RedirectStandardInput = $true
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.UseShellExecute = $false
    $process = [System.Diagnostics.Process]::Start($info)
    $process.StandardInput.AutoFlush = $true
    [pscustomobject]@{ Name = $Name; Process = $process; Pending = $null; Errors = $process.StandardError.ReadToEndAsync(); Log = [System.Collections.Generic.List[string]]::new() }
}

function Send-DemoCommand($Child, [hashtable] $Command) {
    $Child.Process.StandardInput.WriteLine(($Command | ConvertTo-Json -Compress))
}

# The child's next "@@ {json}" line, waiting at most until the demo's deadline.
function Read-DemoReply($Child) {
    while ($true) {
        $left = $deadline - [DateTime]::UtcNow
        if ($left -le [TimeSpan]::Zero) { throw "timed out after $TimeoutSeconds s waiting for $($Child.Name)" }
        if (-not $Child.Pending) { $Child.Pending = $Child.Process.StandardOutput.ReadLineAsync() }
        if (-not $Child.Pending.Wait($left)) { throw "timed out after $TimeoutSeconds s waiting for $($Child.Name)" }
        $line = $Child.Pending.Result
        $Child.Pending = $null
        if ($null -eq $line) { throw "$($Child.Name) exited early (code $($Child.Process.ExitCode)): $(($Child.Log -join "`n") + $Child.Errors.Result)" }
        if ($line.StartsWith('@@ ')) {
            $reply = $line.Substring(3) | ConvertFrom-Json
            if ($reply.event -eq 'error') {
                Write-Step $Child.Name "error in $($reply.step): $($reply.error)" 'Red'
                if ($reply.PSObject.Properties['peers']) {
                    Write-Step $Child.Name "  its peers: $(if ($reply.peers) { $reply.peers -join ', ' } else { 'none' }); counters: $($reply.statistics | ConvertTo-Json -Compress)" 'Red'
                }
            }
            return $reply
        }
        $Child.Log.Add($line)
        Write-Verbose "$($Child.Name): $line"
    }
}

$exitCode = 1
try {
    Write-Host "Messenger demo: three nodes in three child pwsh processes, cluster $cluster, beacon on loopback" -ForegroundColor White
    Write-Host ''

    # 1. Start the nodes.
    foreach ($name in $names) { $children[$name] = Start-DemoNode $name }
    foreach ($child in $children.Values) {
        $reply = Read-DemoReply $child
        Add-Check "$($child.Name) started" ($reply.event -eq 'started') "$($reply | ConvertTo-Json -Compress)"
        if ($reply.event -eq 'started') { Write-Step $child.Name "started in process $($reply.pid), listening on $($reply.endpoint)" }
    }

    # 2. They find each other by beacon.
    foreach ($child in $children.Values) {
        Send-DemoCommand $child @{ op = 'wait'; peers = @($names | Where-Object { $_ -ne $child.Name }); timeout = 30 }
    }
    foreach ($child in $children.Values) {
        $reply = Read-DemoReply $child
        $others = @($names | Where-Object { $_ -ne $child.Name })
        $seen = @(if ($reply.event -eq 'connected') { $reply.peers | Where-Object state -eq 'Connected' | ForEach-Object name })
        Add-Check "$($child.Name) sees $($others -join ' and ')" (-not (Compare-Object $others $seen))
        if ($reply.event -eq 'connected') {
            Write-Step $child.Name ("sees " + (($reply.peers | ForEach-Object { "$($_.name) ($($_.state), found by $($_.discoveredBy))" }) -join ', ')) 'Green'
        }
    }

    # 3. Unicast round the ring (a text and an object each), and a broadcast from every node.
    $ring = @{ alpha = 'bravo'; bravo = 'charlie'; charlie = 'alpha' }
    foreach ($child in $children.Values) {
        Send-DemoCommand $child @{ op = 'send'; to = $ring[$child.Name]; text = "hello $($ring[$child.Name]), from $($child.Name)" }
        Send-DemoCommand $child @{ op = 'broadcast'; text = "greetings to all, from $($child.Name)" }
    }
    foreach ($child in $children.Values) {
        $sent = Read-DemoReply $child
        $broadcast = Read-DemoReply $child
        Add-Check "$($child.Name) sent to $($ring[$child.Name]) and broadcast" ($sent.event -eq 'sent' -and $broadcast.event -eq 'broadcast')
        Write-Step $child.Name "-> $($ring[$child.Name]): ""hello $($ring[$child.Name]), from $($child.Name)"" and an object; broadcast ""greetings to all, from $($child.Name)"""
    }

    # 4. Each receives 2 unicast messages from its predecessor and 2 broadcasts.
    foreach ($child in $children.Values) { Send-DemoCommand $child @{ op = 'receive'; count = 4; timeout = 20 } }
    foreach ($child in $children.Values) {
        $reply = Read-DemoReply $child
        $messages = @(if ($reply.event -eq 'received') { $reply.messages })
        $from = ($ring.GetEnumerator() | Where-Object Value -eq $child.Name).Key
        $unicast = @($messages | Where-Object kind -eq 'Unicast')
        $broadcasts = @($messages | Where-Object kind -eq 'Broadcast')
        $text = $unicast | Where-Object contentType -eq 'Text' | Select-Object -First 1
        $object = $unicast | Where-Object contentType -eq 'Json' | Select-Object -First 1
        Add-Check "$($child.Name) got the text from $from" ($null -ne $text -and $text.from -eq $from -and $text.body -eq "hello $($child.Name), from $from")
        Add-Check "$($child.Name) got the object from $from" ($null -ne $object -and $object.body.from -eq $from -and (@($object.body.numbers) -join ',') -eq '1,2,3')
        $expectedBroadcasts = @($names | Where-Object { $_ -ne $child.Name } | ForEach-Object { "greetings to all, from $_" })
        Add-Check "$($child.Name) got both broadcasts" (-not (Compare-Object $expectedBroadcasts @($broadcasts | ForEach-Object body)))
        foreach ($m in $messages) { Write-Step $child.Name "<- $($m.from): $($m.kind.ToLowerInvariant()) #$($m.sequence) $(Format-Body $m.body)" 'Green' }
    }

    # 5. charlie stops; alpha and bravo see it leave.
    Send-DemoCommand $children['charlie'] @{ op = 'stop' }
    $reply = Read-DemoReply $children['charlie']
    Add-Check 'charlie stopped' ($reply.event -eq 'stopped')
    Write-Step 'charlie' 'stopped its node and exits' 'Yellow'
    foreach ($name in 'alpha', 'bravo') {
        Send-DemoCommand $children[$name] @{ op = 'waitleft'; peer = 'charlie'; timeout = 20 }
    }
    foreach ($name in 'alpha', 'bravo') {
        $reply = Read-DemoReply $children[$name]
        $remaining = @(if ($reply.event -eq 'left') { $reply.peers })
        # 'left' is the reason of a LEAVE; a node that vanished without one would be gone too, 10 s later, for another.
        Add-Check "$name saw charlie leave" ($reply.event -eq 'left' -and $reply.peer -eq 'charlie' -and $reply.reason -eq 'left' -and $remaining -notcontains 'charlie') "reason '$($reply.reason)'"
        if ($reply.event -eq 'left') { Write-Step $name "saw charlie leave ($($reply.reason)); peers now: $($remaining -join ', ')" 'Yellow' }
    }
    if (-not $children['charlie'].Process.WaitForExit(10000)) { Add-Check 'charlie exited' $false }
    else { Add-Check 'charlie exited' ($children['charlie'].Process.ExitCode -eq 0) "exit code $($children['charlie'].Process.ExitCode)" }

    foreach ($name in 'alpha', 'bravo') { Send-DemoCommand $children[$name] @{ op = 'stop' } }
    foreach ($name in 'alpha', 'bravo') {
        $reply = Read-DemoReply $children[$name]
        Add-Check "$name stopped" ($reply.event -eq 'stopped')
    }
}
catch {
    Add-Check 'the demo ran to its end' $false "$_"
}
finally {
    foreach ($child in $children.Values) {
        if (-not $child.Process.HasExited) { $child.Process.Kill($true) }
        $child.Process.Dispose()
    }
    if (@($checks | Where-Object { -not $_.Ok }).Count -gt 0 -and (Test-Path $logs)) {
        foreach ($log in Get-ChildItem $logs -Filter *.log) {
            Write-Host ''
            Write-Host "--- log of $($log.BaseName) (last 40 lines) ---" -ForegroundColor DarkYellow
            Get-Content $log.FullName -Tail 40 | ForEach-Object { Write-Host $_ -ForegroundColor DarkGray }
        }
    }
    if (Test-Path $env:MESSENGER_HOME) { Remove-Item $env:MESSENGER_HOME -Recurse -Force -ErrorAction SilentlyContinue }
    $env:MESSENGER_HOME = $oldHome
}

$passed = @($checks | Where-Object Ok).Count
$failed = $checks.Count - $passed
Write-Host ''
if ($failed -eq 0 -and $passed -gt 0) {
    Write-Host ("Demo passed: {0} of {0} checks in {1:0.0} s." -f $passed, $started.Elapsed.TotalSeconds) -ForegroundColor Green
    $exitCode = 0
}
else {
    Write-Host ("Demo FAILED: {0} of {1} checks failed in {2:0.0} s:" -f $failed, $checks.Count, $started.Elapsed.TotalSeconds) -ForegroundColor Red
    $checks | Where-Object { -not $_.Ok } | ForEach-Object { Write-Host "  - $($_.What) $($_.Detail)" -ForegroundColor Red }
}
exit $exitCode
