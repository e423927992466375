#Requires -Version 7.4
# Start-MessengerNode, Stop-MessengerNode, Get-MessengerNode: life cycle, the session's registry, -Node
# resolution, errors by id, pipeline input, -WhatIf, JSON and tab completion.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSession.ps1')
    $script:Session = Enter-MessengerTestSession 'pester-nodes'
    $script:Cluster = $script:Session.Cluster

    function New-TestNode {
        [CmdletBinding()]
        param([string] $Name, [hashtable] $Extra = @{})
        Start-MessengerNode -Name $Name -Cluster $script:Cluster -BindAddress 127.0.0.1 -BeaconInterface lo @Extra
    }

    function Get-Completion([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches.CompletionText
    }
}

AfterAll {
    Exit-MessengerTestSession $script:Session
}

Describe 'Start-MessengerNode' {
    AfterEach { Get-MessengerNode | Stop-MessengerNode }

    It 'starts a node and outputs it with its name, id, endpoint, state and peer count' {
        $node = New-TestNode -Name 'n1'
        $node | Should -BeOfType ([Messenger.PowerShell.MessengerNodeInfo])
        $node.Name | Should -Be 'n1'
        $node.Id | Should -Match '^[0-9a-f]{32}$'
        $node.Cluster | Should -Be $script:Cluster
        $node.State | Should -Be 'Running'
        $node.Endpoint | Should -Match '^tcp://127\.0\.0\.1:\d+$'
        $node.PublishEndpoint | Should -Match '^tcp://127\.0\.0\.1:\d+$'
        $node.PeerCount | Should -Be 0
        $node.Uptime | Should -BeOfType ([timespan])
        $node.Statistics.MessagesSent | Should -Be 0
        $node | Stop-MessengerNode
        $node.Uptime | Should -Be $node.Uptime -Because 'a stopped node no longer runs'
    }

    It 'names the node after the host and process when -Name is left out' {
        $node = Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -BeaconInterface lo
        $node.Name | Should -Match "-$PID$"
    }

    It 'starts several nodes from names on the pipeline' {
        $nodes = 'p1', 'p2', 'p3' | Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -BeaconInterface lo
        $nodes.Name | Should -Be 'p1', 'p2', 'p3'
        (Get-MessengerNode).Name | Should -Be 'p1', 'p2', 'p3'
    }

    It 'takes its settings by property name from the pipeline' {
        $node = [pscustomobject]@{ Name = 'fromcsv'; Cluster = $script:Cluster; BindAddress = '127.0.0.1'; BeaconInterface = 'lo' } | Start-MessengerNode
        $node.Name | Should -Be 'fromcsv'
        $node.Cluster | Should -Be $script:Cluster
    }

    It 'maps -HeartbeatInterval, -PeerTimeout and -PeerGoneAfter given as seconds or TimeSpans' {
        $node = New-TestNode -Name 'timing' -Extra @{ HeartbeatInterval = 0.1; PeerTimeout = [timespan]::FromSeconds(2); PeerGoneAfter = '5' }
        $options = $node.GetEngineNode().Options
        $options.HeartbeatInterval | Should -Be ([timespan]::FromMilliseconds(100))
        $options.PeerTimeout | Should -Be ([timespan]::FromSeconds(2))
        $options.PeerGoneAfter | Should -Be ([timespan]::FromSeconds(5))
    }

    It 'maps -Port, -NoBeacon, -Seed, -AdvertisedHost and -ReceiveQueueCapacity' {
        # A port that is free now (the engine releases a stopped node's port asynchronously, so ask the system).
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start()
        $port = $listener.LocalEndpoint.Port
        $listener.Stop()
        $node = New-TestNode -Name 'mapped' -Extra @{ Port = $port; NoBeacon = $true; Seed = 'tcp://127.0.0.1:1'; AdvertisedHost = 'localhost'; ReceiveQueueCapacity = 10 }
        $node.GetEngineNode().Port | Should -Be $port
        $node.BeaconEnabled | Should -BeFalse
        $options = $node.GetEngineNode().Options
        $options.Seeds | Should -Be 'tcp://127.0.0.1:1'
        $options.ReceiveQueueCapacity | Should -Be 10
        $node.Endpoint | Should -Be "tcp://localhost:$port"
    }

    It 'maps -DataPort, on secure and insecure nodes alike' {
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start()
        $port = $listener.LocalEndpoint.Port
        $listener.Stop()
        $node = New-TestNode -Name 'data-port' -Extra @{ DataPort = $port }
        $node.GetEngineNode().DataPort | Should -Be $port
        $node.DataPort | Should -Be $port
        $node | Stop-MessengerNode
        $insecure = Start-MessengerNode -Name 'insecure-data' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon -Insecure -DataPort $port -WarningAction SilentlyContinue
        $insecure.DataPort | Should -Be $port
        $insecure | Stop-MessengerNode
    }

    It 'fails with NodeNameInUse when the name is taken in this session' {
        $null = New-TestNode -Name 'dup'
        { New-TestNode -Name 'dup' -ErrorAction Stop } |
            Should -Throw -ErrorId 'NodeNameInUse,Messenger.PowerShell.Commands.StartMessengerNodeCommand'
        (Get-MessengerNode).Count | Should -Be 1
    }

    It 'reports NodeNameInUse for one name of a pipeline and starts the others' {
        $null = New-TestNode -Name 'taken'
        $started = 'free1', 'taken', 'free2' | Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -BeaconInterface lo -ErrorVariable err -ErrorAction SilentlyContinue
        $started.Name | Should -Be 'free1', 'free2'
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'NodeNameInUse,Messenger.PowerShell.Commands.StartMessengerNodeCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        $err[0].TargetObject | Should -Be 'taken'
    }

    It 'fails with InvalidConfiguration for <Case>' -ForEach @(
        @{ Case = 'a name with spaces'; Extra = @{ Name = 'bad name' } }
        @{ Case = 'a bind address that is no address'; Extra = @{ Name = 'badbind'; BindAddress = 'not-an-ip' } }
        @{ Case = 'a peer timeout shorter than the heartbeat'; Extra = @{ Name = 'badtiming'; HeartbeatInterval = 2; PeerTimeout = 1 } }
        @{ Case = 'an unknown beacon interface'; Extra = @{ Name = 'badif'; BeaconInterface = 'no-such-interface0' } }
    ) {
        $arguments = @{ Cluster = $script:Cluster; BindAddress = '127.0.0.1'; BeaconInterface = 'lo' } + @{}
        foreach ($key in $Extra.Keys) { $arguments[$key] = $Extra[$key] }
        { Start-MessengerNode @arguments -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidConfiguration,Messenger.PowerShell.Commands.StartMessengerNodeCommand'
        Get-MessengerNode | Should -BeNullOrEmpty
    }

    It 'fails with InvalidConfiguration when the port is in use' {
        $first = New-TestNode -Name 'holder'
        $port = $first.GetEngineNode().Port
        $null = Start-MessengerNode -Name 'clash' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon -Port $port -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'InvalidConfiguration,Messenger.PowerShell.Commands.StartMessengerNodeCommand'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'starts nothing with -WhatIf' {
        New-TestNode -Name 'whatif' -Extra @{ WhatIf = $true } | Should -BeNullOrEmpty
        Get-MessengerNode | Should -BeNullOrEmpty
    }
}

Describe 'Get-MessengerNode' {
    BeforeAll {
        $script:nodes = 'g-alpha', 'g-beta', 'other' | Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -BeaconInterface lo -NoBeacon
    }
    AfterAll { Get-MessengerNode | Stop-MessengerNode }

    It 'lists the nodes of the session ordered by name' {
        (Get-MessengerNode).Name | Should -Be 'g-alpha', 'g-beta', 'other'
    }

    It 'filters by name with wildcards' {
        (Get-MessengerNode -Name 'g-*').Name | Should -Be 'g-alpha', 'g-beta'
        (Get-MessengerNode 'OTH*').Name | Should -Be 'other'
        # A plain name is the node's exact name: names are case-sensitive.
        Get-MessengerNode 'OTHER' -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'NodeNotFound,Messenger.PowerShell.Commands.GetMessengerNodeCommand'
        Get-MessengerNode -Name 'zz*' | Should -BeNullOrEmpty
    }

    It 'takes names from the pipeline' {
        ('g-beta', 'other' | Get-MessengerNode).Name | Should -Be 'g-beta', 'other'
    }

    It 'returns the same live object that Start-MessengerNode output' {
        $node = Get-MessengerNode -Name 'g-alpha'
        [object]::ReferenceEquals($node, $script:nodes[0]) | Should -BeTrue
    }

    It 'writes NodeNotFound for a name that no node has' {
        $found = Get-MessengerNode -Name 'ghost' -ErrorVariable err -ErrorAction SilentlyContinue
        $found | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'NodeNotFound,Messenger.PowerShell.Commands.GetMessengerNodeCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'converts to JSON with its properties and no depth warning' {
        $json = Get-MessengerNode -Name 'g-alpha' | ConvertTo-Json -WarningVariable warnings
        $warnings | Should -BeNullOrEmpty
        $back = $json | ConvertFrom-Json
        $back.Name | Should -Be 'g-alpha'
        $back.Endpoint | Should -Be $script:nodes[0].Endpoint
        $back.Cluster | Should -Be $script:Cluster
        $back.PSObject.Properties.Name | Should -Contain 'PeerCount'
        $back.PSObject.Properties.Name | Should -Contain 'Uptime'
        $back.Statistics.MessagesSent | Should -Be 0
    }

    It 'completes node names on Tab' {
        Get-Completion 'Get-MessengerNode -Name g-' | Should -Be 'g-alpha', 'g-beta'
        Get-Completion 'Get-MessengerPeer -Node ot' | Should -Be 'other'
        Get-Completion 'Stop-MessengerNode -Node ' | Should -Be 'g-alpha', 'g-beta', 'other'
        Get-Completion "Receive-MessengerMessage -Node 'g-a" | Should -Be "'g-alpha'"
    }

    It 'shows a table view' {
        $text = Get-MessengerNode | Format-Table | Out-String -Width 200
        $text | Should -Match 'Name\s+State\s+Endpoint\s+Peers'
        $text | Should -Match 'g-alpha\s+Running\s+tcp://127\.0\.0\.1:\d+'
    }
}

Describe 'Choosing the node: -Node and the default node' {
    AfterEach { Get-MessengerNode | Stop-MessengerNode }

    It 'fails with NodeNotFound when no node runs' {
        { Get-MessengerPeer } | Should -Throw -ErrorId 'NodeNotFound,Messenger.PowerShell.Commands.GetMessengerPeerCommand'
        { Receive-MessengerMessage } | Should -Throw -ErrorId 'NodeNotFound,Messenger.PowerShell.Commands.ReceiveMessengerMessageCommand'
        { Stop-MessengerNode } | Should -Throw -ErrorId 'NodeNotFound,Messenger.PowerShell.Commands.StopMessengerNodeCommand'
    }

    It 'uses the only node when -Node is left out' {
        $node = New-TestNode -Name 'solo' -Extra @{ NoBeacon = $true }
        Get-MessengerPeer | Should -BeNullOrEmpty
        Receive-MessengerMessage | Should -BeNullOrEmpty
        Stop-MessengerNode -PassThru | Should -Be $node
        $node.State | Should -Be 'Stopped'
    }

    It 'fails with NodeNotSpecified when several nodes run and none is named' {
        $null = 'm1', 'm2' | Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        $thrown = { Get-MessengerPeer } | Should -Throw -ErrorId 'NodeNotSpecified,Messenger.PowerShell.Commands.GetMessengerPeerCommand' -PassThru
        $thrown.Exception.Message | Should -Match 'm1, m2'
        $thrown.CategoryInfo.Category | Should -Be 'InvalidArgument'
        { Send-MessengerBroadcast -Message 'x' } | Should -Throw -ErrorId 'NodeNotSpecified,Messenger.PowerShell.Commands.SendMessengerBroadcastCommand'
        { Register-MessengerEvent -EventName PeerJoined } | Should -Throw -ErrorId 'NodeNotSpecified,Messenger.PowerShell.Commands.RegisterMessengerEventCommand'
    }

    It 'takes -Node as a name or as a node object, also from the pipeline' {
        $m1, $m2 = 'm1', 'm2' | Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        Get-MessengerPeer -Node 'm1' | Should -BeNullOrEmpty
        Get-MessengerPeer -Node $m2 | Should -BeNullOrEmpty
        $m1 | Get-MessengerPeer | Should -BeNullOrEmpty
        $m2 | Receive-MessengerMessage | Should -BeNullOrEmpty
    }

    It 'fails with NodeNotFound for a name no node has' {
        $null = New-TestNode -Name 'present' -Extra @{ NoBeacon = $true }
        { Get-MessengerPeer -Node 'absent' } | Should -Throw -ErrorId 'NodeNotFound,Messenger.PowerShell.Commands.GetMessengerPeerCommand'
        { Wait-MessengerPeer -Node 'absent' -Count 1 } | Should -Throw -ErrorId 'NodeNotFound,Messenger.PowerShell.Commands.WaitMessengerPeerCommand'
    }

    It 'fails with InvalidNodeArgument for something that is not a node' {
        $null = New-TestNode -Name 'present' -Extra @{ NoBeacon = $true }
        { Get-MessengerPeer -Node @{ Name = 'present' } } | Should -Throw -ErrorId 'InvalidNodeArgument,Messenger.PowerShell.Commands.GetMessengerPeerCommand'
    }

    It 'takes a bare whole number for a node named by it, and completes such a name quoted' {
        # PowerShell binds a bare 1 to -Node (an object) as a number: InvalidNodeArgument, also for what Tab inserted.
        $null = 1..2 | Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        $null = Connect-MessengerPeer -Node 1 -Endpoint (Get-MessengerNode -Name 2).Endpoint -Timeout 20
        Send-MessengerMessage -Node 1 -To 2 -Message 'hi'
        foreach ($i in 2) { (Receive-MessengerMessage -Node $i -Count 1 -Timeout 20).Body | Should -Be 'hi' }
        (Get-MessengerPeer -Node 1).Name | Should -Be '2'
        { Get-MessengerPeer -Node 3 } | Should -Throw -ErrorId 'NodeNotFound,Messenger.PowerShell.Commands.GetMessengerPeerCommand'
        Get-Completion 'Get-MessengerPeer -Node ' | Should -Be "'1'", "'2'"
        Stop-MessengerNode -Node 1, 2 -PassThru | ForEach-Object State | Should -Be 'Stopped', 'Stopped'
    }

    It 'takes a $null -Node as left out: the only node, or NodeNotSpecified among several' {
        $null = New-TestNode -Name 'only' -Extra @{ NoBeacon = $true }
        Send-MessengerBroadcast -Node $null -Message 'to nobody yet' -ErrorAction Stop
        $null = New-TestNode -Name 'second' -Extra @{ NoBeacon = $true }
        { Send-MessengerBroadcast -Node $null -Message 'x' } | Should -Throw -ErrorId 'NodeNotSpecified,Messenger.PowerShell.Commands.SendMessengerBroadcastCommand'
        Get-MessengerNode | Stop-MessengerNode
    }

    It 'fails with NodeStopped on a stopped node object' {
        $node = New-TestNode -Name 'gone' -Extra @{ NoBeacon = $true }
        Stop-MessengerNode -Node $node
        { Send-MessengerBroadcast -Node $node -Message 'x' } | Should -Throw -ErrorId 'NodeStopped,Messenger.PowerShell.Commands.SendMessengerBroadcastCommand'
        { Register-MessengerEvent -Node $node -EventName PeerLeft } | Should -Throw -ErrorId 'NodeStopped,Messenger.PowerShell.Commands.RegisterMessengerEventCommand'
        # An empty peer table, or a receive that ends with nothing, would read as "no peers yet" and "no messages yet".
        { Get-MessengerPeer -Node $node -ErrorAction Stop } | Should -Throw -ErrorId 'NodeStopped,Messenger.PowerShell.Commands.GetMessengerPeerCommand'
        { Receive-MessengerMessage -Node $node -Timeout 20 -ErrorAction Stop } | Should -Throw -ErrorId 'NodeStopped,Messenger.PowerShell.Commands.ReceiveMessengerMessageCommand'
        { Receive-MessengerMessage -Node $node -Timeout -1 -ErrorAction Stop } | Should -Throw -ErrorId 'NodeStopped,Messenger.PowerShell.Commands.ReceiveMessengerMessageCommand'
        Receive-MessengerMessage -Node $node -ErrorVariable failed | Should -BeNullOrEmpty
        $failed | Should -BeNullOrEmpty -Because 'a receive of only what waits asks for no more than the stopped node has'
    }

    It 'takes a peer row for the node that sees the peer, in Register-MessengerEvent too' {
        $m1, $m2 = 'm1', 'm2' | Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        $null = Connect-MessengerPeer -Node $m1 -Endpoint $m2.Endpoint -Timeout 20
        $row = Get-MessengerPeer -Node m1 -Name m2
        $null = Register-MessengerEvent -Node $row -EventName PeerLeft -SourceIdentifier 'nodes.row'
        try {
            Stop-MessengerNode -Node m2
            (Wait-Event -SourceIdentifier 'nodes.row' -Timeout 20).SourceEventArgs.Node | Should -Be 'm1'
        }
        finally {
            Unregister-Event -SourceIdentifier 'nodes.row'
            Get-Event -SourceIdentifier 'nodes.row' -ErrorAction SilentlyContinue | Remove-Event
        }
    }
}

Describe 'Stop-MessengerNode' {
    BeforeEach {
        Get-MessengerNode | Stop-MessengerNode
        $script:nodes = 's-one', 's-two', 'keep' | Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
    }
    AfterAll { Get-MessengerNode | Stop-MessengerNode }

    It 'stops nodes from the pipeline and forgets them' {
        $stopped = Get-MessengerNode -Name 's-*' | Stop-MessengerNode -PassThru
        $stopped.Name | Should -Be 's-one', 's-two'
        $stopped.State | Should -Be 'Stopped', 'Stopped'
        (Get-MessengerNode).Name | Should -Be 'keep'
    }

    It 'stops nodes by -Name with wildcards' {
        Stop-MessengerNode -Name 's-*'
        (Get-MessengerNode).Name | Should -Be 'keep'
    }

    It 'stops by a plain -Name only the node of exactly that name' {
        $upper = Start-MessengerNode -Name 'KEEP' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        Stop-MessengerNode -Name 'keep'
        $upper.State | Should -Be 'Running'
        (Get-MessengerNode).Name | Should -Be 'KEEP', 's-one', 's-two'
    }

    It 'stops nodes named by -Node' {
        Stop-MessengerNode -Node 's-one', $script:nodes[1]
        (Get-MessengerNode).Name | Should -Be 'keep'
    }

    It 'stops every node with -All' {
        Stop-MessengerNode -All
        Get-MessengerNode | Should -BeNullOrEmpty
        $script:nodes.State | Should -Be 'Stopped', 'Stopped', 'Stopped'
    }

    It 'stops nothing with -WhatIf' {
        Stop-MessengerNode -All -WhatIf
        (Get-MessengerNode).Count | Should -Be 3
        $script:nodes.State | Should -Be 'Running', 'Running', 'Running'
    }

    It 'writes NodeNotFound for a name no node has and stops the others' {
        Stop-MessengerNode -Node 's-one', 'ghost', 's-two' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'NodeNotFound,Messenger.PowerShell.Commands.StopMessengerNodeCommand'
        (Get-MessengerNode).Name | Should -Be 'keep'
    }

    It 'stops no node for a $null, a peer row or something else given, and stops the others' {
        # A missing property piped in is $null: it must not stand for the session's only node.
        Get-MessengerNode -Name 's-*' | Stop-MessengerNode
        $row = [pscustomobject]@{ Node = $null }
        $row.Node | Stop-MessengerNode -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'InvalidNodeArgument,Messenger.PowerShell.Commands.StopMessengerNodeCommand'
        Stop-MessengerNode -Node $null -ErrorAction SilentlyContinue
        (Get-MessengerNode).Name | Should -Be 'keep'

        $script:nodes = 's-one', 's-two' | Start-MessengerNode -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        Connect-MessengerPeer -Node keep -Endpoint $script:nodes[0].Endpoint -Timeout 20 | Out-Null
        # A peer row names the node that sees the peer ('keep'), not the peer.
        Get-MessengerPeer -Node keep -Name 's-one' | Stop-MessengerNode -ErrorVariable err2 -ErrorAction SilentlyContinue
        $err2[0].FullyQualifiedErrorId | Should -Be 'InvalidNodeArgument,Messenger.PowerShell.Commands.StopMessengerNodeCommand'
        Stop-MessengerNode -Node 's-one', 42, 's-two' -ErrorVariable err3 -ErrorAction SilentlyContinue
        $err3.Count | Should -Be 1
        (Get-MessengerNode).Name | Should -Be 'keep'
    }

    It 'lets a stopped name be started again' {
        Stop-MessengerNode -Node 's-one'
        (New-TestNode -Name 's-one' -Extra @{ NoBeacon = $true }).State | Should -Be 'Running'
    }
}

Describe 'Nodes shared by the runspaces of the process' {
    BeforeAll {
        # A PowerShell in another runspace of this process, to run $Script there (BeginInvoke); it imports the module
        # itself, and $Node is handed in.
        # A MessageReceived handler that holds the node's delivery at the first message until released, as a slow
        # subscriber would, and counts the messages it is given.
        Add-Type -TypeDefinition @'
public sealed class MessengerTestGate
{
    public readonly System.Threading.ManualResetEventSlim Entered = new System.Threading.ManualResetEventSlim(false);
    public readonly System.Threading.ManualResetEventSlim Release = new System.Threading.ManualResetEventSlim(false);
    private int _count;
    public int Count { get { return System.Threading.Volatile.Read(ref _count); } }
    public System.EventHandler<Messenger.PowerShell.MessengerMessageEventArgs> Handler { get; }
    public MessengerTestGate() { Handler = OnMessage; }
    private void OnMessage(object sender, Messenger.PowerShell.MessengerMessageEventArgs e)
    {
        if (System.Threading.Interlocked.Increment(ref _count) != 1) return;
        Entered.Set();
        Release.Wait(60000);
    }
}
'@ -ReferencedAssemblies ([Messenger.PowerShell.MessengerNodeInfo].Assembly.Location), 'System.Runtime', 'System.Threading'

        function Wait-Until([scriptblock] $Condition, [string] $What) {
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while (-not (& $Condition)) {
                [DateTime]::UtcNow | Should -BeLessThan $deadline -Because "$What in time"
                [System.Threading.Thread]::Sleep(10)
            }
        }

        # Two nodes, and $N messages "m1".."m$N" from the first queued at the second, which it returns. The last goes
        # with -WaitForAck: the ones before it are queued once it returns.
        function Enter-QueuedPair([int] $N) {
            $a = New-TestNode -Name 'qa' -Extra @{ NoBeacon = $true }
            $b = New-TestNode -Name 'qb' -Extra @{ NoBeacon = $true }
            $null = Connect-MessengerPeer -Node $a -Endpoint $b.Endpoint -Timeout 20
            Wait-MessengerPeer -Node $b -Name 'qa' -Timeout 20
            1..($N - 1) | ForEach-Object { "m$_" } | Send-MessengerMessage -Node $a -To 'qb'
            Send-MessengerMessage -Node $a -To 'qb' -Message "m$N" -WaitForAck
            $b.PendingMessageCount | Should -Be $N
            $b
        }

        function New-Runspace([string] $Script, $Node) {
            $ps = [powershell]::Create()
            [void]$ps.AddScript("param(`$node) Import-Module '$($script:Session.ModulePath)/Messenger.psd1'; $Script").AddArgument($Node)
            $ps
        }
    }
    AfterEach { Get-MessengerNode | Stop-MessengerNode }

    It 'keeps running the nodes of this runspace when another one removes the module' {
        $mine = New-TestNode -Name 'mine' -Extra @{ NoBeacon = $true }
        $other = New-Runspace 'Remove-Module Messenger'
        try {
            $other.BeginInvoke().AsyncWaitHandle.WaitOne(30000) | Should -BeTrue
        }
        finally { $other.Dispose() }
        $mine.State | Should -Be 'Running'
        (Get-MessengerNode).Name | Should -Be 'mine'
    }

    It 'delivers to MessageReceived subscribers every message the node held when it stopped' {
        # Stopped while the subscription's delivery is part way through the queue: the rest went nowhere.
        $b = Enter-QueuedPair 5000
        $gate = [MessengerTestGate]::new()
        $b.add_MessageReceived($gate.Handler)
        $stop = New-Runspace 'Stop-MessengerNode -Node $node' $b
        try {
            $gate.Entered.Wait(20000) | Should -BeTrue -Because 'the delivery must reach the handler'
            $handle = $stop.BeginInvoke()
            Wait-Until { $b.GetEngineNode().State -eq 'Stopped' } 'the engine stopped'
            $gate.Release.Set()
            $handle.AsyncWaitHandle.WaitOne(30000) | Should -BeTrue
            $gate.Count | Should -Be 5000
            $b.PendingMessageCount | Should -Be 0
        }
        finally {
            $gate.Release.Set()
            $b.remove_MessageReceived($gate.Handler)
            $stop.Dispose()
        }
    }

    It 'outputs in order what a subscription that left had taken, before the queue, in a receive that waited for it' {
        $b = Enter-QueuedPair 5000
        $gate = [MessengerTestGate]::new()
        $b.add_MessageReceived($gate.Handler)
        $other = New-Runspace 'Receive-MessengerMessage -Node $node -Count 4999 -Timeout 30 -Verbose' $b
        $null = Register-ObjectEvent -InputObject $other.Streams.Verbose -EventName DataAdded -SourceIdentifier 'nodes.leftwaiting'
        try {
            $gate.Entered.Wait(20000) | Should -BeTrue -Because 'the delivery must reach the handler'
            $handle = $other.BeginInvoke()
            Wait-Event -SourceIdentifier 'nodes.leftwaiting' -Timeout 20 | Should -Not -BeNullOrEmpty -Because 'the receive must begin to wait'
            # The subscription leaves while its delivery holds a batch taken off the queue: that batch comes first.
            $b.remove_MessageReceived($gate.Handler)
            $gate.Release.Set()
            $handle.AsyncWaitHandle.WaitOne(30000) | Should -BeTrue
            $received = @($other.EndInvoke($handle) | ForEach-Object { [int]$_.Body.Substring(1) })
            $gate.Count | Should -Be 1
            $received.Count | Should -Be 4999
            for ($i = 0; $i -lt $received.Count; $i++) { if ($received[$i] -ne $i + 2) { $received[$i] | Should -Be ($i + 2) -Because "message $($i + 2) must come in order" } }
        }
        finally {
            $gate.Release.Set()
            Unregister-Event -SourceIdentifier 'nodes.leftwaiting'
            Get-Event -SourceIdentifier 'nodes.leftwaiting' -ErrorAction SilentlyContinue | Remove-Event
            $other.Dispose()
        }
    }

    It 'ends a receive that waits for MessageReceived subscribers with NodeStopped when the node stops' {
        $node = New-TestNode -Name 'r' -Extra @{ NoBeacon = $true }
        $other = New-Runspace 'Register-MessengerEvent -Node $node -EventName MessageReceived | Out-Null; Receive-MessengerMessage -Node $node -Count 1 -Timeout -1 -Verbose' $node
        # Its verbose line says it waits for the subscribers: an event here.
        $null = Register-ObjectEvent -InputObject $other.Streams.Verbose -EventName DataAdded -SourceIdentifier 'nodes.waiting'
        $handle = $other.BeginInvoke()
        try {
            Wait-Event -SourceIdentifier 'nodes.waiting' -Timeout 20 | Should -Not -BeNullOrEmpty -Because 'the receive must begin to wait'
            Stop-MessengerNode -Node $node
            $handle.AsyncWaitHandle.WaitOne(20000) | Should -BeTrue -Because 'a stopped node receives nothing more'
            $other.Streams.Error[0].FullyQualifiedErrorId | Should -Be 'NodeStopped,Messenger.PowerShell.Commands.ReceiveMessengerMessageCommand'
        }
        finally {
            Unregister-Event -SourceIdentifier 'nodes.waiting'
            Get-Event -SourceIdentifier 'nodes.waiting' -ErrorAction SilentlyContinue | Remove-Event
            if (-not $handle.IsCompleted) { $other.Stop() }
            $other.Dispose()
        }
    }
}
