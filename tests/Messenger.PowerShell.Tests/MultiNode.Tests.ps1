#Requires -Version 7.4
# Several nodes: three in this session meet and broadcast; nodes in child pwsh processes talk to this session's
# node across processes, and when one is killed the others see it become unreachable and leave.

BeforeAll {
    # Child processes inherit MESSENGER_HOME, so they share this session's cluster key.
    . (Join-Path $PSScriptRoot 'TestSession.ps1')
    $script:Session = Enter-MessengerTestSession 'pester-multi'
    $script:ModulePath = $script:Session.ModulePath
    $script:Cluster = $script:Session.Cluster
    $script:Children = [System.Collections.Generic.List[System.Diagnostics.Process]]::new()

    # The command that starts a child pwsh like this one. Under 'dotnet pwsh' (the local tool) this process is
    # the dotnet host, so the child is 'dotnet <PSHOME>/pwsh.dll'.
    function Get-PwshCommand {
        $path = (Get-Process -Id $PID).Path
        if ([IO.Path]::GetFileNameWithoutExtension($path) -eq 'dotnet') { return , @($path, (Join-Path $PSHOME 'pwsh.dll')) }
        , @($path)
    }

    # A child node: prints READY, answers text with "echo:<text> from <name>", a {op='peers'} object with its
    # peer table, exits on {op='exit'}, and exits when this process is gone (or after two minutes at most).
    $script:ChildScript = Join-Path $TestDrive 'ChildNode.ps1'
    Set-Content -Path $script:ChildScript -Value @'
param([string] $ModulePath, [string] $Name, [string] $Cluster, [int] $ParentPid)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $ModulePath 'Messenger.psd1')
$node = Start-MessengerNode -Name $Name -Cluster $Cluster -BindAddress 127.0.0.1 -BeaconInterface lo -PeerTimeout 3 -PeerGoneAfter 3
[Console]::Out.WriteLine("READY $($node.Endpoint)")
$deadline = [DateTime]::UtcNow.AddMinutes(2)
while ([DateTime]::UtcNow -lt $deadline -and (Get-Process -Id $ParentPid -ErrorAction SilentlyContinue)) {
    $m = Receive-MessengerMessage -Count 1 -Timeout 0.5 -ErrorAction SilentlyContinue
    if (-not $m) { continue }
    if ($m.Body -isnot [string] -and $m.Body.op -eq 'exit') {
        # Leave without Stop-MessengerNode: the module stops the node as the process exits.
        exit 0
    }
    try {
        if ($m.Body -is [string]) {
            Send-MessengerMessage -To $m.From -Message "echo:$($m.Body) from $Name"
        }
        elseif ($m.Body.op -eq 'peers') {
            $peers = @(Get-MessengerPeer | ForEach-Object { @{ Name = $_.Name; State = "$($_.State)" } })
            Send-MessengerMessage -To $m.From -Message @{ op = 'peers'; from = $Name; peers = $peers }
        }
    }
    catch {
        # A reply that cannot go (the asker is gone for now) must not end the child: the test asks again.
        [Console]::Error.WriteLine("$Name could not answer $($m.From): $_")
    }
}
'@

    function Start-ChildNode([string] $Name) {
        $pwsh = Get-PwshCommand
        $info = [System.Diagnostics.ProcessStartInfo]::new($pwsh[0])
        foreach ($arg in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $script:ChildScript,
                '-ModulePath', $script:ModulePath, '-Name', $Name, '-Cluster', $script:Cluster, '-ParentPid', $PID)) {
            $info.ArgumentList.Add($arg)
        }
        $info.RedirectStandardOutput = $true
        $info.RedirectStandardError = $true
        $info.UseShellExecute = $false
        $process = [System.Diagnostics.Process]::Start($info)
        $script:Children.Add($process)
        $process
    }

    # The next event of that subscription about that peer; others (a loaded machine may make a healthy peer
    # briefly unreachable) are taken off the queue and passed over. Bounded, no sleeps.
    function Wait-PeerEvent([string] $SourceIdentifier, [string] $Peer, [double] $TimeoutSeconds = 20) {
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
        while ([DateTime]::UtcNow -lt $deadline) {
            $event = Wait-Event -SourceIdentifier $SourceIdentifier -Timeout ([math]::Max(1, [math]::Ceiling(($deadline - [DateTime]::UtcNow).TotalSeconds)))
            if (-not $event) { break }
            $event | Remove-Event
            if ($event.SourceEventArgs.Peer.Name -eq $Peer) { return $event }
        }
        throw "no $SourceIdentifier event about $Peer within $TimeoutSeconds s"
    }

    # Waits for the child's READY line; bounded, no sleeps.
    function Wait-ChildReady([System.Diagnostics.Process] $Process, [double] $TimeoutSeconds = 30) {
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
        while ($true) {
            $left = $deadline - [DateTime]::UtcNow
            if ($left -le [TimeSpan]::Zero) { throw "child $($Process.Id) did not start in $TimeoutSeconds s" }
            $read = $Process.StandardOutput.ReadLineAsync()
            if (-not $read.Wait($left)) { throw "child $($Process.Id) did not start in $TimeoutSeconds s" }
            $line = $read.Result
            if ($null -eq $line) { throw "child $($Process.Id) exited: $($Process.StandardError.ReadToEnd())" }
            if ($line -like 'READY *') { return $line.Substring(6) }
        }
    }
}

AfterAll {
    foreach ($child in $script:Children) {
        if (-not $child.HasExited) { $child.Kill($true) }
        $child.Dispose()
    }
    Get-EventSubscriber | Where-Object SourceIdentifier -like 'multi.*' | Unregister-Event
    Get-Event | Where-Object SourceIdentifier -like 'multi.*' | Remove-Event
    Exit-MessengerTestSession $script:Session
}

Describe 'Three nodes in one session' {
    BeforeAll {
        $script:trio = 'one', 'two', 'three' | Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -BeaconInterface lo
    }
    AfterAll { Stop-MessengerNode -Name 'one', 'two', 'three' -ErrorAction Ignore }

    It 'find each other by beacon' {
        foreach ($node in $script:trio) {
            $others = $script:trio.Name | Where-Object { $_ -ne $node.Name }
            (Wait-MessengerPeer -Node $node -Name $others -Timeout 20 -PassThru).Name | Should -Be ($others | Sort-Object)
        }
        $script:trio.PeerCount | Should -Be 2, 2, 2
    }

    It 'deliver a broadcast from each node to both others' {
        foreach ($node in $script:trio) { Send-MessengerBroadcast -Node $node -Message "hello from $($node.Name)" -Topic 'multi' }
        foreach ($node in $script:trio) {
            $received = Receive-MessengerMessage -Node $node -Topic 'multi' -Count 2 -Timeout 10
            $expected = $script:trio.Name | Where-Object { $_ -ne $node.Name } | ForEach-Object { "hello from $_" }
            ($received.Body | Sort-Object) | Should -Be ($expected | Sort-Object)
            $received.Kind | Should -Be 'Broadcast', 'Broadcast'
        }
    }

    It 'deliver unicast messages around the ring' {
        Send-MessengerMessage -Node one -To two -Message 'one->two'
        Send-MessengerMessage -Node two -To three -Message 'two->three'
        Send-MessengerMessage -Node three -To one -Message 'three->one'
        (Receive-MessengerMessage -Node two -Count 1 -Timeout 10).Body | Should -Be 'one->two'
        (Receive-MessengerMessage -Node three -Count 1 -Timeout 10).Body | Should -Be 'two->three'
        (Receive-MessengerMessage -Node one -Count 1 -Timeout 10).Body | Should -Be 'three->one'
    }

    It 'see a stopped node leave' {
        Register-MessengerEvent -Node one -EventName PeerLeft -SourceIdentifier 'multi.left'
        Stop-MessengerNode -Node three
        $left = Wait-Event -SourceIdentifier 'multi.left' -Timeout 10
        $left.SourceEventArgs.Peer.Name | Should -Be 'three'
        (Get-MessengerPeer -Node one).Name | Should -Be 'two'
        (Get-MessengerPeer -Node two).Name | Should -Be 'one'
    }
}

Describe 'Nodes in child processes' {
    BeforeAll {
        $script:hub = Start-MessengerNode -Name 'hub' -Cluster $script:Cluster -BindAddress 127.0.0.1 -BeaconInterface lo -PeerTimeout 3 -PeerGoneAfter 3
        Register-MessengerEvent -Node hub -EventName PeerUnreachable -SourceIdentifier 'multi.unreachable'
        Register-MessengerEvent -Node hub -EventName PeerLeft -SourceIdentifier 'multi.childleft'
        $script:c1 = Start-ChildNode 'child1'
        $script:c2 = Start-ChildNode 'child2'
        $script:c3 = Start-ChildNode 'child3'
        $null = Wait-ChildReady $script:c1
        $null = Wait-ChildReady $script:c2
        $null = Wait-ChildReady $script:c3
    }
    AfterAll { Stop-MessengerNode -Node hub }

    It 'connect to this session''s node' {
        (Wait-MessengerPeer -Node hub -Name child1, child2, child3 -Timeout 30 -PassThru).State | Should -Be 'Connected', 'Connected', 'Connected'
    }

    It 'receive a broadcast and answer it with unicast messages' {
        # Each child must also see the other before the next test asks for its peer table.
        Send-MessengerBroadcast -Node hub -Message 'ping'
        $echoes = Receive-MessengerMessage -Node hub -Count 3 -Timeout 20
        ($echoes.Body | Sort-Object) | Should -Be 'echo:ping from child1', 'echo:ping from child2', 'echo:ping from child3'
        $echoes.Kind | Should -Be 'Unicast', 'Unicast', 'Unicast'
    }

    It 'see a child that exits without stopping its node leave at once' {
        Send-MessengerMessage -Node hub -To child3 -Message @{ op = 'exit' }
        $left = Wait-PeerEvent 'multi.childleft' 'child3'
        $left.SourceEventArgs.Reason | Should -Be 'left' -Because 'the node said it leaves; it did not time out'
        $script:c3.WaitForExit(10000) | Should -BeTrue
        $script:c3.ExitCode | Should -Be 0
    }

    It 'see a killed child become unreachable and leave, here and in the other child' {
        Send-MessengerMessage -Node hub -To child2 -Message @{ op = 'peers' }
        $before = Receive-MessengerMessage -Node hub -From child2 -Count 1 -Timeout 20
        $before.Body.peers.Name | Should -Contain 'child1'

        Get-Event -SourceIdentifier 'multi.unreachable' -ErrorAction Ignore | Remove-Event
        $script:c1.Kill($true)
        $unreachable = Wait-PeerEvent 'multi.unreachable' 'child1'
        $unreachable.SourceEventArgs.Peer.State | Should -Be 'Unreachable'
        $left = Wait-PeerEvent 'multi.childleft' 'child1'
        $left.SourceEventArgs.Reason | Should -Match 'unreachable'
        (Get-MessengerPeer -Node hub).Name | Should -Be 'child2'

        # child2 has the same timeouts; ask until its table no longer lists child1 (bounded by Receive's timeout).
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        do {
            Send-MessengerMessage -Node hub -To child2 -Message @{ op = 'peers' }
            $after = Receive-MessengerMessage -Node hub -From child2 -Count 1 -Timeout 10
        } while ($after.Body.peers.Name -contains 'child1' -and [DateTime]::UtcNow -lt $deadline)
        $after.Body.peers.Name | Should -Be 'hub'
        $after.Body.peers.Name | Should -Not -Contain 'child3'
    }
}
