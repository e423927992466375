#Requires -Version 7.4
# Start-MessengerNode's tuning, limit, supervision and -Insecure parameters: each reaches the engine's options,
# left out each keeps the engine's default, bad values fail by id, -Insecure warns. Loopback only, no sleeps.

BeforeDiscovery {
    # Parameter, a value as a user would type it, and the option it must become.
    $script:Mapped = @(
        @{ Parameter = 'BeaconInterval'; Value = 1; Expected = [timespan]::FromSeconds(1) }
        @{ Parameter = 'AckTimeout'; Value = 2.5; Expected = [timespan]::FromSeconds(2.5) }
        @{ Parameter = 'LeaveTimeout'; Value = '00:00:01'; Expected = [timespan]::FromSeconds(1) }
        @{ Parameter = 'HandshakeTimeout'; Value = [timespan]::FromSeconds(3); Expected = [timespan]::FromSeconds(3) }
        @{ Parameter = 'RestartPeriod'; Value = '30'; Expected = [timespan]::FromSeconds(30) }
        @{ Parameter = 'HangTimeout'; Value = 20; Expected = [timespan]::FromSeconds(20) }
        @{ Parameter = 'MaxPeers'; Value = 7; Expected = 7 }
        @{ Parameter = 'MaxPendingHandshakes'; Value = 9; Expected = 9 }
        @{ Parameter = 'MaxHandshakesPerSecond'; Value = 11; Expected = 11 }
        @{ Parameter = 'MaxRestarts'; Value = 0; Expected = 0 }
        @{ Parameter = 'SendQueueLimitBytes'; Value = 1MB; Expected = [long]1MB }
        @{ Parameter = 'ReceiveFullMode'; Value = 'DropOldest'; Expected = 'DropOldest' }
        @{ Parameter = 'Cipher'; Value = 'ChaCha20Poly1305'; Expected = 'ChaCha20Poly1305' }
        @{ Parameter = 'HelloBurstPerConnection'; Value = 2; Expected = 2 }
        @{ Parameter = 'HelloIntervalPerConnection'; Value = 0.25; Expected = [timespan]::FromSeconds(0.25) }
        @{ Parameter = 'StrangerResetInterval'; Value = '00:00:03'; Expected = [timespan]::FromSeconds(3) }
        @{ Parameter = 'MaxStrangerFramesPerWakeup'; Value = 16; Expected = 16 }
        @{ Parameter = 'MaxTrackedConnections'; Value = 100; Expected = 100 }
    )
    $script:NewParameters = $script:Mapped.Parameter
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSession.ps1')
    $script:Session = Enter-MessengerTestSession 'pester-options'
    $script:Cluster = $script:Session.Cluster
    $script:StartId = 'Messenger.PowerShell.Commands.StartMessengerNodeCommand'

    # Nodes on loopback without the beacon: these tests need no discovery, or join through -Seed.
    $script:Base = @{ Cluster = $script:Cluster; BindAddress = '127.0.0.1'; NoBeacon = $true }
    function New-TestNode {
        [CmdletBinding()]
        param([string] $Name, [hashtable] $Extra = @{})
        Start-MessengerNode -Name $Name @script:Base @Extra
    }

    # The errors of one Start-MessengerNode call, which must start nothing. (Binding errors are thrown from the
    # calling command, so tests of those call Start-MessengerNode itself, not New-TestNode.)
    function Get-StartError([hashtable] $Extra) {
        $null = Start-MessengerNode -Name 'bad' @script:Base @Extra -ErrorVariable err -ErrorAction SilentlyContinue
        Get-MessengerNode | Should -BeNullOrEmpty
        , $err
    }
}

AfterAll {
    Exit-MessengerTestSession $script:Session
}

Describe 'Start-MessengerNode settings' {
    AfterEach { Get-MessengerNode | Stop-MessengerNode }

    It 'passes -<Parameter> <Value> to the node' -ForEach $Mapped {
        $node = New-TestNode -Name 'mapped' -Extra @{ $Parameter = $Value }
        $node.GetEngineNode().Options.$Parameter | Should -Be $Expected
    }

    It 'passes all of them together' {
        $extra = @{}
        foreach ($case in $Mapped) { $extra[$case.Parameter] = $case.Value }
        $options = (New-TestNode -Name 'together' -Extra $extra).GetEngineNode().Options
        foreach ($case in $Mapped) { $options.($case.Parameter) | Should -Be $case.Expected -Because "-$($case.Parameter)" }
        $options.Insecure | Should -BeFalse
    }

    It 'keeps the engine''s defaults when they are left out' {
        $options = (New-TestNode -Name 'defaults').GetEngineNode().Options
        $defaults = [Messenger.MessengerNodeOptions]::Default
        foreach ($name in $NewParameters + 'HeartbeatInterval', 'PeerTimeout', 'PeerGoneAfter', 'MaxMessageSize', 'ReceiveQueueCapacity', 'Insecure') {
            $options.$name | Should -Be $defaults.$name -Because "-$name was left out"
        }
    }

    It 'documents -<_> with the engine''s default' -ForEach $NewParameters {
        $help = Get-Help Start-MessengerNode -Parameter $_
        ($help.Description.Text -join ' ') | Should -Not -BeNullOrEmpty
        $help.defaultValue | Should -Be "$([Messenger.MessengerNodeOptions]::Default.$_)"
    }

    It 'completes -ReceiveFullMode values on Tab' {
        $line = 'Start-MessengerNode -ReceiveFullMode Drop'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be 'DropNewest', 'DropOldest'
    }
}

Describe 'Start-MessengerNode -Cipher at work' {
    AfterEach { Get-MessengerNode | Stop-MessengerNode }

    It 'seals a link with <Expected> when one end prefers <Sink> and the other <Source>' -ForEach @(
        @{ Sink = 'Aes256Gcm'; Source = 'Aes256Gcm'; Expected = 'Aes256Gcm' }
        @{ Sink = 'Aes256Gcm'; Source = 'ChaCha20Poly1305'; Expected = 'ChaCha20Poly1305' }
    ) {
        $sink = New-TestNode -Name 'sink' -Extra @{ Cipher = $Sink }
        $source = New-TestNode -Name 'source' -Extra @{ Cipher = $Source; Seed = $sink.Endpoint }
        (Wait-MessengerPeer -Node source -Name sink -Timeout 60 -PassThru).Cipher | Should -Be $Expected
        (Wait-MessengerPeer -Node sink -Name source -Timeout 60 -PassThru).Cipher | Should -Be $Expected
        Send-MessengerMessage -Node source -To sink -Message 'sealed'
        Send-MessengerBroadcast -Node sink -Message 'to all'
        (Receive-MessengerMessage -Node sink -Count 1 -Timeout 30).Body | Should -Be 'sealed'
        (Receive-MessengerMessage -Node source -Count 1 -Timeout 30).Body | Should -Be 'to all'
    }
}

Describe 'Start-MessengerNode -ReceiveFullMode at work' {
    BeforeAll {
        # A sink with a small receive queue, a source linked to it, and the sink's drops as events.
        function New-SinkAndSource([int] $Capacity, [string] $Mode, [string] $DropEvents) {
            $sink = New-TestNode -Name 'sink' -Extra @{ ReceiveQueueCapacity = $Capacity; ReceiveFullMode = $Mode }
            $source = New-TestNode -Name 'source' -Extra @{ Seed = $sink.Endpoint }
            $null = Wait-MessengerPeer -Node $source -Name 'sink' -Timeout 60
            $null = Wait-MessengerPeer -Node $sink -Name 'source' -Timeout 60
            Register-MessengerEvent -Node $sink -EventName MessageDropped -SourceIdentifier $DropEvents
            $sink, $source
        }
    }
    AfterEach {
        Get-EventSubscriber | Where-Object SourceIdentifier -like 'options.*' | Unregister-Event
        Get-Event | Where-Object SourceIdentifier -like 'options.*' | Remove-Event
        Get-MessengerNode | Stop-MessengerNode
    }

    It 'keeps the newest messages with DropOldest' {
        $sink, $source = New-SinkAndSource -Capacity 2 -Mode 'DropOldest' -DropEvents 'options.dropped'

        '1', '2', '3', '4', '5' | Send-MessengerMessage -Node $source -To 'sink'

        # Three drops make room for 3, 4 and 5; wait for them by event, with a deadline.
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        $drops = 0
        while ($drops -lt 3 -and [DateTime]::UtcNow -lt $deadline) {
            $event = Wait-Event -SourceIdentifier 'options.dropped' -Timeout ([math]::Max(1, [math]::Ceiling(($deadline - [DateTime]::UtcNow).TotalSeconds)))
            if (-not $event) { break }
            $event | Remove-Event
            $event.SourceEventArgs.Count | Should -Be 1
            $event.SourceEventArgs.Reason | Should -Be 'receive queue full'
            $drops++
        }
        $drops | Should -Be 3
        (Receive-MessengerMessage -Node $sink).Body | Should -Be '4', '5'
    }

    It 'holds what a filtered receive leaves for later to the same bound and mode, counting and raising each drop' {
        $sink, $source = New-SinkAndSource -Capacity 5 -Mode 'DropNewest' -DropEvents 'options.kept'
        # The receive wants another topic: it leaves the five for later, then five more, which the bound refuses.
        # -WaitForAck returns once the sink has each message.
        1..5 | ForEach-Object { "first$_" } | Send-MessengerMessage -Node $source -To 'sink' -Topic 'other' -WaitForAck
        Receive-MessengerMessage -Node $sink -Topic 'wanted' | Should -BeNullOrEmpty
        6..10 | ForEach-Object { "second$_" } | Send-MessengerMessage -Node $source -To 'sink' -Topic 'other' -WaitForAck
        Receive-MessengerMessage -Node $sink -Topic 'wanted' -WarningAction SilentlyContinue | Should -BeNullOrEmpty

        $sink.Statistics.MessagesDropped | Should -Be 5
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (@(Get-Event -SourceIdentifier 'options.kept' -ErrorAction SilentlyContinue).Count -lt 5 -and [DateTime]::UtcNow -lt $deadline) {
            $null = Wait-Event -SourceIdentifier 'options.kept' -Timeout 1
        }
        @(Get-Event -SourceIdentifier 'options.kept').Count | Should -Be 5
        (Receive-MessengerMessage -Node $sink).Body | Should -Be 'first1', 'first2', 'first3', 'first4', 'first5'
    }
}

Describe 'Start-MessengerNode bad settings' {
    AfterEach { Get-MessengerNode | Stop-MessengerNode }

    It 'refuses -<Parameter> <Value> with ParameterArgumentValidationError' -ForEach @(
        @{ Parameter = 'MaxPeers'; Value = 0 }
        @{ Parameter = 'MaxPendingHandshakes'; Value = 0 }
        @{ Parameter = 'MaxHandshakesPerSecond'; Value = 0 }
        @{ Parameter = 'MaxRestarts'; Value = -1 }
        @{ Parameter = 'SendQueueLimitBytes'; Value = 1KB }
        @{ Parameter = 'HelloBurstPerConnection'; Value = 0 }
        @{ Parameter = 'MaxStrangerFramesPerWakeup'; Value = 0 }
        @{ Parameter = 'MaxTrackedConnections'; Value = -5 }
    ) {
        { $bad = @{ $Parameter = $Value }; Start-MessengerNode -Name 'bad' @Base @bad -ErrorAction Stop } |
            Should -Throw -ErrorId "ParameterArgumentValidationError,$StartId"
        Get-MessengerNode | Should -BeNullOrEmpty
    }

    It 'refuses -<Parameter> <Value> with <ErrorId>' -ForEach @(
        @{ Parameter = 'ReceiveFullMode'; Value = 'DropAll'; ErrorId = 'CannotConvertArgumentNoMessage' }
        @{ Parameter = 'Cipher'; Value = 'Rot13'; ErrorId = 'CannotConvertArgumentNoMessage' }
        @{ Parameter = 'AckTimeout'; Value = 'soon'; ErrorId = 'ParameterArgumentTransformationError' }
        @{ Parameter = 'HangTimeout'; Value = -1; ErrorId = 'ParameterArgumentTransformationError' }
    ) {
        { $bad = @{ $Parameter = $Value }; Start-MessengerNode -Name 'bad' @Base @bad -ErrorAction Stop } | Should -Throw -ErrorId "$ErrorId,$StartId"
        Get-MessengerNode | Should -BeNullOrEmpty
    }

    It 'fails with InvalidConfiguration naming <Option> for <Case>' -ForEach @(
        @{ Case = 'a zero -BeaconInterval'; Option = 'BeaconInterval'; Extra = @{ BeaconInterval = 0 } }
        @{ Case = 'a zero -AckTimeout'; Option = 'AckTimeout'; Extra = @{ AckTimeout = 0 } }
        @{ Case = 'a -HelloIntervalPerConnection under a millisecond'; Option = 'HelloIntervalPerConnection'; Extra = @{ HelloIntervalPerConnection = 0.0001 } }
        @{ Case = 'a -StrangerResetInterval of two days'; Option = 'StrangerResetInterval'; Extra = @{ StrangerResetInterval = '2.00:00:00' } }
        @{ Case = 'a zero -LeaveTimeout'; Option = 'LeaveTimeout'; Extra = @{ LeaveTimeout = '0' } }
        @{ Case = 'a negative -HandshakeTimeout TimeSpan'; Option = 'HandshakeTimeout'; Extra = @{ HandshakeTimeout = [timespan]::FromSeconds(-1) } }
        @{ Case = 'a zero -RestartPeriod'; Option = 'RestartPeriod'; Extra = @{ RestartPeriod = [timespan]::Zero } }
        @{ Case = 'a zero -HangTimeout'; Option = 'HangTimeout'; Extra = @{ HangTimeout = 0 } }
        @{ Case = 'an -AckTimeout of 30 days'; Option = 'AckTimeout'; Extra = @{ AckTimeout = [timespan]::FromDays(30) } }
        @{ Case = 'a -LeaveTimeout of TimeSpan.MaxValue'; Option = 'LeaveTimeout'; Extra = @{ LeaveTimeout = [timespan]::MaxValue } }
        @{ Case = '-Insecure with -ClusterKeyPath'; Option = 'Insecure'; Extra = @{ Insecure = $true; ClusterKeyPath = 'cluster.key' } }
        @{ Case = '-Insecure with -AllowedKey'; Option = 'Insecure'; Extra = @{ Insecure = $true; AllowedKey = [Convert]::ToBase64String([byte[]](1..32)) } }
        @{ Case = '-Insecure with -Cipher Aes256Gcm'; Option = 'Cipher'; Extra = @{ Insecure = $true; Cipher = 'Aes256Gcm' } }
        @{ Case = 'a -KeyPath holding a NUL'; Option = 'KeyPath'; Extra = @{ KeyPath = "/tmp/a`0b.key" } }
        @{ Case = 'a -ClusterKeyPath holding a NUL'; Option = 'ClusterKeyPath'; Extra = @{ ClusterKeyPath = "/tmp/a`0b.key" } }
    ) {
        $err = Get-StartError $Extra
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be "InvalidConfiguration,$StartId"
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err[0].Exception.Option | Should -Be $Option
        $err[0].Exception.Message | Should -BeLike "${Option}: *"
        $err[0].TargetObject | Should -Be 'bad'
    }

    It 'refuses -Insecure for a pipeline row that brings a cluster key, and starts the other rows' {
        $rows = @(
            [pscustomobject]@{ Name = 'plain1' }
            [pscustomobject]@{ Name = 'keyed'; ClusterKey = (New-MessengerClusterKey) }
            [pscustomobject]@{ Name = 'plain2' }
        )
        $started = $rows | Start-MessengerNode -Insecure -Cluster $Cluster -BindAddress 127.0.0.1 -NoBeacon `
            -ErrorVariable err -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $started.Name | Should -Be 'plain1', 'plain2'
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be "InvalidConfiguration,$StartId"
        $err[0].TargetObject | Should -Be 'keyed'
    }
}

Describe 'Start-MessengerNode -LogPath' {
    AfterEach { Get-MessengerNode | Stop-MessengerNode }

    It 'appends the node''s log to the file, and several nodes to one file lose none of each other''s lines' {
        $log = Join-Path $TestDrive 'nodes.log'
        $null = 'log-a', 'log-b', 'log-c' | Start-MessengerNode @script:Base -LogPath $log
        Get-MessengerNode | Stop-MessengerNode
        $lines = Get-Content $log
        foreach ($name in 'log-a', 'log-b', 'log-c') {
            ($lines -match "Node $name started").Count | Should -Be 1 -Because "node $name's start line must be there"
            ($lines -match "Node $name stopped").Count | Should -Be 1 -Because "node $name's stop line must be there"
        }
    }

    It 'fails with InvalidConfiguration for a path holding a NUL' {
        Start-MessengerNode 'nul' @script:Base -LogPath "/tmp/a`0b.log" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'InvalidConfiguration,Messenger.PowerShell.Commands.StartMessengerNodeCommand'
        $err[0].Exception.Option | Should -Be 'LogPath'
        Get-MessengerNode | Should -BeNullOrEmpty
    }
}

Describe 'Start-MessengerNode -Insecure' {
    AfterEach { Get-MessengerNode | Stop-MessengerNode }

    It 'warns loudly that the links are plaintext' {
        $node = New-TestNode -Name 'plain' -Extra @{ Insecure = $true } -WarningVariable warnings -WarningAction SilentlyContinue
        $warnings.Count | Should -Be 1
        $warnings[0].Message | Should -Match 'INSECURE'
        $warnings[0].Message | Should -Match 'PLAINTEXT'
        $warnings[0].Message | Should -Match '\bplain\b'
        $node.GetEngineNode().Options.Insecure | Should -BeTrue
        $node.Membership | Should -Match 'INSECURE'
    }

    It 'warns once for each node it starts' {
        $null = 'plain1', 'plain2' | Start-MessengerNode -Insecure -Cluster $Cluster -BindAddress 127.0.0.1 -NoBeacon `
            -WarningVariable warnings -WarningAction SilentlyContinue
        $warnings.Count | Should -Be 2
        $warnings[0].Message | Should -Match '\bplain1\b'
        $warnings[1].Message | Should -Match '\bplain2\b'
    }

    It 'does not warn for a secure node' {
        $node = New-TestNode -Name 'secure' -WarningVariable warnings -WarningAction SilentlyContinue
        $warnings.Count | Should -Be 0
        $node.Membership | Should -Not -Match 'INSECURE'
    }

    It 'starts nothing and warns of nothing with -WhatIf' {
        New-TestNode -Name 'plain' -Extra @{ Insecure = $true; WhatIf = $true } -WarningVariable warnings -WarningAction SilentlyContinue |
            Should -BeNullOrEmpty
        $warnings.Count | Should -Be 0
        Get-MessengerNode | Should -BeNullOrEmpty
    }

    It 'links two insecure nodes that then exchange messages' {
        $a = New-TestNode -Name 'plain-a' -Extra @{ Insecure = $true } -WarningAction SilentlyContinue
        $b = New-TestNode -Name 'plain-b' -Extra @{ Insecure = $true; Seed = $a.Endpoint } -WarningAction SilentlyContinue
        $null = Wait-MessengerPeer -Node $b -Name 'plain-a' -Timeout 60
        $null = Wait-MessengerPeer -Node $a -Name 'plain-b' -Timeout 60
        Send-MessengerMessage -Node $b -To 'plain-a' -Message 'in the clear'
        $m = Receive-MessengerMessage -Node $a -Count 1 -Timeout 60
        $m.From | Should -Be 'plain-b'
        $m.Body | Should -Be 'in the clear'
    }
}
