#Requires -Version 7.4
# Two nodes in this session: peers, waiting, unicast and broadcast of strings, bytes and objects, receive
# filters and timeouts, errors by id, JSON round trips and tab completion of peer names.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSession.ps1')
    $script:Session = Enter-MessengerTestSession 'pester-msg'
    $script:Cluster = $script:Session.Cluster

    function Get-Completion([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches.CompletionText
    }

    $common = @{ Cluster = $script:Cluster; BindAddress = '127.0.0.1'; BeaconInterface = 'lo' }
    # a refuses bodies over 64 KiB, so that MessageTooLarge is cheap to provoke.
    $script:a = Start-MessengerNode -Name 'alpha' -MaxMessageSize 65536 @common
    $script:b = Start-MessengerNode -Name 'bravo' @common
    Wait-MessengerPeer -Node alpha -Name bravo -Timeout 20
    Wait-MessengerPeer -Node bravo -Name alpha -Timeout 20
}

AfterAll {
    Exit-MessengerTestSession $script:Session
}

Describe 'Get-MessengerPeer and Wait-MessengerPeer' {
    It 'lists the peer table with name, id, address, state, last seen and round trip' {
        $peer = Get-MessengerPeer -Node alpha
        $peer | Should -BeOfType ([Messenger.PowerShell.MessengerPeerInfo])
        $peer.Node | Should -Be 'alpha'
        $peer.Name | Should -Be 'bravo'
        $peer.Id | Should -Be $script:b.Id
        $peer.Address | Should -Be '127.0.0.1'
        $peer.Endpoint | Should -Be $script:b.Endpoint
        $peer.State | Should -Be 'Connected'
        $peer.LastSeen | Should -BeGreaterThan ([datetimeoffset]::UtcNow.AddMinutes(-1))
        $peer.PSObject.Properties.Name | Should -Contain 'RoundTrip'
        $script:a.PeerCount | Should -Be 1
    }

    It "shows each peer's MaxMessageSize, which a send over it is refused against" {
        (Get-MessengerPeer -Node bravo -Name alpha).MaxMessageSize | Should -Be 65536
        (Get-MessengerPeer -Node alpha -Name bravo).MaxMessageSize | Should -Be 1048576 # bravo's default
        Send-MessengerMessage -Node bravo -To alpha -Message ([byte[]]::new(65537)) -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'MessageTooLarge,Messenger.PowerShell.Commands.SendMessengerMessageCommand'
        $err[0].Exception.Message | Should -Match "node 'alpha' accepts at most 65536"
        # One message of a stream, as a body over the node's own limit: the rest of the stream goes.
        $small = [byte[]]::new(10)
        ([byte[]]::new(65537)), $small | Send-MessengerBroadcast -Node bravo -ErrorVariable err2 -ErrorAction SilentlyContinue
        $err2[0].FullyQualifiedErrorId | Should -Be 'MessageTooLarge,Messenger.PowerShell.Commands.SendMessengerBroadcastCommand'
        $got = Receive-MessengerMessage -Node alpha -Count 1 -Timeout 20
        $got.Kind | Should -Be 'Broadcast'
        $got.Body.Length | Should -Be 10
    }

    It 'takes a -Timeout of any length, up to none at all' {
        # A timeout past what .NET's timers take is as good as none: not an error.
        Wait-MessengerPeer -Node alpha -Name bravo -Timeout 1e9 -PassThru | ForEach-Object Name | Should -Be 'bravo'
        Wait-MessengerPeer -Node alpha -Name bravo -Timeout ([double]::PositiveInfinity) -PassThru | ForEach-Object Name | Should -Be 'bravo'
        (Connect-MessengerPeer -Node alpha -Endpoint $script:b.Endpoint -Timeout 1e9).Name | Should -Be 'bravo'
    }

    It 'filters by name with wildcards and by state' {
        (Get-MessengerPeer -Node alpha -Name 'br*').Name | Should -Be 'bravo'
        (Get-MessengerPeer -Node alpha -State Connected).Name | Should -Be 'bravo'
        Get-MessengerPeer -Node alpha -State Unreachable | Should -BeNullOrEmpty
        Get-MessengerPeer -Node alpha -Name 'x*' | Should -BeNullOrEmpty
    }

    It 'writes PeerNotFound for a name that is not in the table' {
        Get-MessengerPeer -Node alpha -Name 'nobody' -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'PeerNotFound,Messenger.PowerShell.Commands.GetMessengerPeerCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'returns at once for connected peers and outputs them with -PassThru' {
        (Wait-MessengerPeer -Node alpha -Name bravo -Timeout 5 -PassThru).Name | Should -Be 'bravo'
        (Wait-MessengerPeer -Node $script:b -Count 1 -PassThru).Name | Should -Be 'alpha'
        $script:a | Wait-MessengerPeer -Name bravo | Should -BeNullOrEmpty
    }

    It 'passes over the node''s own name, so every node can wait for the list of all members' {
        foreach ($node in 'alpha', 'bravo') { Wait-MessengerPeer -Node $node -Name alpha, bravo -Timeout 5 }
        (Wait-MessengerPeer -Node alpha -Name alpha, bravo -Timeout 5 -PassThru).Name | Should -Be 'bravo'
    }

    It 'fails with PeerWaitTimeout naming who is missing' {
        $thrown = { Wait-MessengerPeer -Node alpha -Name bravo, ghost -Timeout 0.3 } |
            Should -Throw -ErrorId 'PeerWaitTimeout,Messenger.PowerShell.Commands.WaitMessengerPeerCommand' -PassThru
        $thrown.Exception.Message | Should -Match 'ghost'
        $thrown.Exception.Message | Should -Not -Match 'bravo'
        $thrown.CategoryInfo.Category | Should -Be 'OperationTimeout'
        $thrown.Exception.Missing | Should -Be 'ghost'
    }

    It 'refuses a timeout between -1 and 0 instead of waiting without end' {
        { Wait-MessengerPeer -Node alpha -Name ghost -Timeout -0.5 } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,Messenger.PowerShell.Commands.WaitMessengerPeerCommand'
        { Receive-MessengerMessage -Node alpha -Timeout -0.5 } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,Messenger.PowerShell.Commands.ReceiveMessengerMessageCommand'
        { Connect-MessengerPeer -Node alpha -Endpoint 'tcp://127.0.0.1:9' -Timeout -2 } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,Messenger.PowerShell.Commands.ConnectMessengerPeerCommand'
    }

    It 'fails with PeerWaitTimeout when too few peers connect' {
        { Wait-MessengerPeer -Node alpha -Count 5 -Timeout 0.3 } |
            Should -Throw -ErrorId 'PeerWaitTimeout,Messenger.PowerShell.Commands.WaitMessengerPeerCommand'
    }

    It 'converts peers to JSON and back' {
        $json = Get-MessengerPeer -Node alpha | ConvertTo-Json -WarningVariable warnings
        $warnings | Should -BeNullOrEmpty
        $back = $json | ConvertFrom-Json
        $back.Name | Should -Be 'bravo'
        $back.Node | Should -Be 'alpha'
        $back.Id | Should -Be $script:b.Id
    }

    It 'completes peer names on Tab from the live peer table' {
        Get-Completion 'Send-MessengerMessage -Node alpha -To ' | Should -Be 'bravo'
        Get-Completion 'Send-MessengerMessage -Node bravo -To a' | Should -Be 'alpha'
        Get-Completion 'Wait-MessengerPeer -Node alpha -Name b' | Should -Be 'bravo'
        Get-Completion 'Receive-MessengerMessage -From ' | Should -Be 'alpha', 'bravo'
        Get-Completion 'Get-MessengerPeer -Node alpha -Name q' | Should -BeNullOrEmpty
    }

    It 'shows a table view grouped by node' {
        $text = Get-MessengerPeer -Node alpha | Format-Table | Out-String -Width 200
        $text | Should -Match 'Peers of node: alpha'
        $text | Should -Match 'bravo\s+Connected\s+127\.0\.0\.1'
    }
}

Describe 'Send-MessengerMessage and Receive-MessengerMessage' {
    BeforeEach {
        # Start each test with empty queues.
        $null = Receive-MessengerMessage -Node alpha
        $null = Receive-MessengerMessage -Node bravo
    }

    It 'sends a string as text' {
        Send-MessengerMessage -Node alpha -To bravo -Message 'hello bravo'
        $m = Receive-MessengerMessage -Node bravo -Count 1 -Timeout 10
        $m | Should -BeOfType ([Messenger.PowerShell.MessengerReceivedMessage])
        $m.Body | Should -BeExactly 'hello bravo'
        $m.ContentType | Should -Be 'Text'
        $m.From | Should -Be 'alpha'
        $m.FromId | Should -Be $script:a.Id
        $m.To | Should -Be 'bravo'
        $m.Kind | Should -Be 'Unicast'
        $m.Topic | Should -BeNullOrEmpty
        $m.Sequence | Should -BeGreaterThan 0
        $m.SentAt | Should -BeLessOrEqual $m.ReceivedAt.AddSeconds(1)
        "$m" | Should -BeExactly 'hello bravo'
    }

    It 'waits for the acknowledgement with -WaitForAck: the message is there when it returns' {
        'one', 'two' | Send-MessengerMessage -Node alpha -To bravo -WaitForAck
        (Get-MessengerNode -Name bravo).GetEngineNode().PendingReceiveCount | Should -Be 2
        (Receive-MessengerMessage -Node bravo -Count 2 -Timeout 10).Body | Should -Be 'one', 'two'
    }

    It 'waits for the acknowledgement with -WaitForAck between insecure nodes too' {
        $plain = @{ Cluster = "$($script:Cluster)-plain"; BindAddress = '127.0.0.1'; BeaconInterface = 'lo'; Insecure = $true; WarningAction = 'SilentlyContinue' }
        $x = Start-MessengerNode -Name 'plain-x' @plain
        $y = Start-MessengerNode -Name 'plain-y' @plain
        try {
            Wait-MessengerPeer -Node plain-x -Name plain-y -Timeout 20
            'one', 'two' | Send-MessengerMessage -Node plain-x -To plain-y -WaitForAck
            (Get-MessengerNode -Name plain-y).GetEngineNode().PendingReceiveCount | Should -Be 2
            (Receive-MessengerMessage -Node plain-y -Count 2 -Timeout 10).Body | Should -Be 'one', 'two'
        }
        finally {
            $x, $y | Stop-MessengerNode
        }
    }

    It 'sends an empty string and non-ASCII text as they are' {
        '', 'grüße, 世界 🚀' | Send-MessengerMessage -Node alpha -To bravo
        $m = Receive-MessengerMessage -Node bravo -Count 2 -Timeout 10
        $m[0].Body | Should -BeExactly ''
        $m[1].Body | Should -BeExactly 'grüße, 世界 🚀'
    }

    It 'sends a byte array as it is' {
        $bytes = [byte[]](0, 1, 2, 254, 255)
        Send-MessengerMessage -Node alpha -To bravo -Message $bytes
        $m = Receive-MessengerMessage -Node bravo -Count 1 -Timeout 10
        $m.ContentType | Should -Be 'Binary'
        $m.Body | Should -BeOfType ([byte])
        , $m.Body | Should -BeOfType ([byte[]])
        $m.Body | Should -Be $bytes
        $m.Size | Should -Be 5
    }

    It 'sends a hashtable as JSON and it comes back as a PSCustomObject' {
        Send-MessengerMessage -Node alpha -To bravo -Message @{ Name = 'web1'; Count = 3; Ratio = 0.5; On = $true; Nothing = $null; Tags = @('a', 'b'); Inner = @{ Deep = 'yes' } }
        $m = Receive-MessengerMessage -Node bravo -Count 1 -Timeout 10
        $m.ContentType | Should -Be 'Json'
        $m.Body | Should -BeOfType ([pscustomobject])
        $m.Body.Name | Should -BeExactly 'web1'
        $m.Body.Count | Should -Be 3
        $m.Body.Count | Should -BeOfType ([long])
        $m.Body.Ratio | Should -Be 0.5
        $m.Body.On | Should -BeTrue
        $m.Body.Nothing | Should -BeNullOrEmpty
        $m.Body.Tags | Should -Be 'a', 'b'
        $m.Body.Inner.Deep | Should -Be 'yes'
    }

    It 'hands over as text a JSON body that ConvertFrom-Json would not make an object of' {
        # A property named "" is valid JSON, and no PSCustomObject property.
        Send-MessengerMessage -Node alpha -To bravo -Message @{ '' = 1 }
        $m = Receive-MessengerMessage -Node bravo -Count 1 -Timeout 10
        $m.ContentType | Should -Be 'Json'
        $m.Body | Should -BeExactly '{"":1}'
    }

    It 'sends a PSCustomObject, keeping property order, dates and numbers' {
        $when = [datetime]::new(2024, 5, 6, 7, 8, 9, [DateTimeKind]::Utc)
        $sent = [pscustomobject]@{ Zeta = 1; Alpha = 'two'; When = $when; Big = [long]::MaxValue; Day = [DayOfWeek]::Friday }
        $sent | Send-MessengerMessage -Node alpha -To bravo
        $m = Receive-MessengerMessage -Node bravo -Count 1 -Timeout 10
        $m.Body.PSObject.Properties.Name | Should -Be 'Zeta', 'Alpha', 'When', 'Big', 'Day'
        $m.Body.When | Should -BeOfType ([datetime])
        $m.Body.When | Should -Be $when
        $m.Body.Big | Should -Be ([long]::MaxValue)
        $m.Body.Day | Should -Be 5
        ($m.Body | ConvertTo-Json -Compress) | Should -Be ($sent | ConvertTo-Json -Compress)
    }

    It 'sends numbers, booleans and arrays given with -Message as JSON' {
        Send-MessengerMessage -Node alpha -To bravo -Message 42
        Send-MessengerMessage -Node alpha -To bravo -Message $false
        Send-MessengerMessage -Node alpha -To bravo -Message @(1, 'two', @{ three = 3 })
        $m = Receive-MessengerMessage -Node bravo -Count 3 -Timeout 10
        $m[0].Body | Should -Be 42
        $m[1].Body | Should -BeFalse
        $m[1].ContentType | Should -Be 'Json'
        $m[2].Body.Count | Should -Be 3
        $m[2].Body[1] | Should -Be 'two'
        $m[2].Body[2].three | Should -Be 3
    }

    It 'sends other .NET objects as their properties' {
        # -Message takes one object: an array given there is one message (a JSON array).
        Send-MessengerMessage -Node alpha -To bravo -Message ([version]'1.2.3'), ([uri]'https://example.org/x')
        Send-MessengerMessage -Node alpha -To bravo -Message (Get-Item $PSCommandPath | Select-Object Name, Length)
        $m = Receive-MessengerMessage -Node bravo -Count 2 -Timeout 10
        $m[0].Body | Should -Be '1.2.3', 'https://example.org/x'
        $m[1].Body.Name | Should -Be 'Messaging.Tests.ps1'
        $m[1].Body.Length | Should -BeGreaterThan 0
    }

    It 'streams messages from the pipeline in order, with increasing sequence numbers' {
        1..2000 | ForEach-Object { "message $_" } | Send-MessengerMessage -Node alpha -To bravo
        $m = Receive-MessengerMessage -Node bravo -Count 2000 -Timeout 20
        $m.Count | Should -Be 2000
        $m[0].Body | Should -Be 'message 1'
        $m[1999].Body | Should -Be 'message 2000'
        for ($i = 1; $i -lt $m.Count; $i++) { if ($m[$i].Sequence -ne $m[$i - 1].Sequence + 1) { throw "gap at $i" } }
        $script:b.Statistics.MessagesReceived | Should -BeGreaterOrEqual 2000
    }

    It 'delivers a message of a paused stream without waiting for the stream to go on' {
        # The first message is handed to Send-MessengerMessage; the stream then pauses until bravo has it.
        $arrived = [System.Collections.Generic.List[object]]::new()
        1..2 | ForEach-Object {
            "paused $_"
            if ($_ -eq 1) { $arrived.Add((Receive-MessengerMessage -Node bravo -Count 1 -Timeout 5).Body) }
        } | Send-MessengerMessage -Node alpha -To bravo
        $arrived | Should -Be 'paused 1'
        (Receive-MessengerMessage -Node bravo -Count 1 -Timeout 10).Body | Should -Be 'paused 2'
    }

    It 'sends to several peers at once with -To' {
        Send-MessengerMessage -Node bravo -To alpha, alpha -Message 'twice'
        (Receive-MessengerMessage -Node alpha -Count 2 -Timeout 10).Body | Should -Be 'twice', 'twice'
    }

    It 'carries the topic, and -Topic filters while other messages wait for later receives' {
        Send-MessengerMessage -Node alpha -To bravo -Message 'one' -Topic 'orders'
        Send-MessengerMessage -Node alpha -To bravo -Message 'two' -Topic 'logs'
        Send-MessengerMessage -Node alpha -To bravo -Message 'three' -Topic 'orders.eu'
        $orders = Receive-MessengerMessage -Node bravo -Topic 'orders*' -Count 2 -Timeout 10
        $orders.Body | Should -Be 'one', 'three'
        $orders.Topic | Should -Be 'orders', 'orders.eu'
        $script:b.PendingMessageCount | Should -Be 1
        $rest = Receive-MessengerMessage -Node bravo
        $rest.Body | Should -Be 'two'
        $rest.Topic | Should -Be 'logs'
    }

    It 'keeps messages a filter left waiting in their order when a receive stops early' {
        'A', 'B', 'C', 'D' | ForEach-Object { Send-MessengerMessage -Node alpha -To bravo -Message $_ -Topic ($(if ($_ -in 'B', 'D') { 'yes' } else { 'no' })) }
        Send-MessengerMessage -Node alpha -To bravo -Message 'E' -Topic 'marker'
        # The four before the marker wait, left by a filter that wants only the marker.
        (Receive-MessengerMessage -Node bravo -Topic 'marker' -Count 1 -Timeout 20).Body | Should -Be 'E'
        $script:b.PendingMessageCount | Should -Be 4
        (Receive-MessengerMessage -Node bravo -Topic 'yes' | Select-Object -First 1).Body | Should -Be 'B'
        (Receive-MessengerMessage -Node bravo).Body | Should -Be 'A', 'C', 'D'
    }

    It 'filters by sender and by kind' {
        Send-MessengerBroadcast -Node alpha -Message 'to everyone'
        Send-MessengerMessage -Node alpha -To bravo -Message 'to bravo'
        (Receive-MessengerMessage -Node bravo -Kind Unicast -Count 1 -Timeout 10).Body | Should -Be 'to bravo'
        (Receive-MessengerMessage -Node bravo -From 'alp*' -Count 1 -Timeout 10).Body | Should -Be 'to everyone'
        Receive-MessengerMessage -Node bravo -From 'nobody' -Timeout 0.2 | Should -BeNullOrEmpty
    }

    It 'returns at once with what is waiting when neither -Count nor -Timeout is given' {
        Receive-MessengerMessage -Node bravo | Should -BeNullOrEmpty
        $elapsed = Measure-Command { Receive-MessengerMessage -Node bravo -Timeout 0.3 }
        $elapsed.TotalSeconds | Should -BeGreaterOrEqual 0.25
    }

    It 'outputs what arrived and writes ReceiveTimeout when -Count is not reached in time' {
        Send-MessengerMessage -Node alpha -To bravo -Message 'only one'
        $m = Receive-MessengerMessage -Node bravo -Count 2 -Timeout 0.5 -ErrorVariable err -ErrorAction SilentlyContinue
        $m.Body | Should -Be 'only one'
        $err[0].FullyQualifiedErrorId | Should -Be 'ReceiveTimeout,Messenger.PowerShell.Commands.ReceiveMessengerMessageCommand'
        $err[0].CategoryInfo.Category | Should -Be 'OperationTimeout'
        $err[0].Exception.Message | Should -Match '1 of 2'
    }

    It 'fails with PeerNotFound for an unknown peer before sending anything' {
        { 'a', 'b' | Send-MessengerMessage -Node alpha -To nobody } |
            Should -Throw -ErrorId 'PeerNotFound,Messenger.PowerShell.Commands.SendMessengerMessageCommand'
        $script:a.Statistics.MessagesSent | Should -BeGreaterThan 0
    }

    It 'writes MessageTooLarge for a body over the limit and sends the rest of the stream' {
        'before', ('x' * 70000), 'after' | Send-MessengerMessage -Node alpha -To bravo -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'MessageTooLarge,Messenger.PowerShell.Commands.SendMessengerMessageCommand'
        $err[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
        (Receive-MessengerMessage -Node bravo -Count 2 -Timeout 10).Body | Should -Be 'before', 'after'
    }

    It 'stops writing an object as JSON soon after it passes the limit, and says so' {
        # A hashtable that holds itself four times: at the default -Depth 10, about 4^10 copies, gigabytes of JSON.
        $vast = @{}
        1..4 | ForEach-Object { $vast["k$_"] = $vast }
        $before = [GC]::GetTotalAllocatedBytes($true)
        'before', $vast, 'after' | Send-MessengerMessage -Node alpha -To bravo -ErrorVariable err -ErrorAction SilentlyContinue
        $allocated = [GC]::GetTotalAllocatedBytes($true) - $before
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'MessageTooLarge,Messenger.PowerShell.Commands.SendMessengerMessageCommand'
        $err[0].ErrorDetails.Message | Should -BeLike '*as JSON, has more than 65536 bytes*'
        $allocated | Should -BeLessThan 16MB -Because "the limit is 64 KiB; $([int]($allocated / 1MB)) MB were allocated"
        (Receive-MessengerMessage -Node bravo -Count 2 -Timeout 10).Body | Should -Be 'before', 'after'
    }

    It 'fails with InvalidTopic for a topic that is not valid Unicode' {
        { Send-MessengerBroadcast -Node alpha -Message 'x' -Topic "orders$([char]0xD800)" } |
            Should -Throw -ErrorId 'InvalidTopic,Messenger.PowerShell.Commands.SendMessengerBroadcastCommand'
    }

    It 'refuses text holding half of a surrogate pair with InvalidText, and the stream goes on' {
        # UTF-8 cannot carry it: encoded, it would arrive as another text, with U+FFFD in its place.
        $lone = "half $([char]0xD800) pair"
        $pair = "whole $([char]0xD83D)$([char]0xDE00) pair"
        'before', $lone, $pair | Send-MessengerMessage -Node alpha -To bravo -ErrorVariable err -ErrorAction SilentlyContinue
        'before', $lone, 'after' | Send-MessengerMessage -Node alpha -To bravo -WaitForAck -ErrorVariable +err -ErrorAction SilentlyContinue
        'before', "$([char]0xDC00)", 'after' | Send-MessengerBroadcast -Node alpha -ErrorVariable +err -ErrorAction SilentlyContinue
        $err.FullyQualifiedErrorId | Should -Be 'InvalidText,Messenger.PowerShell.Commands.SendMessengerMessageCommand',
            'InvalidText,Messenger.PowerShell.Commands.SendMessengerMessageCommand', 'InvalidText,Messenger.PowerShell.Commands.SendMessengerBroadcastCommand'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err[0].Exception.Message | Should -BeLike '*at index 5*'
        (Receive-MessengerMessage -Node bravo -Count 6 -Timeout 10).Body | Should -Be 'before', $pair, 'before', 'after', 'before', 'after'
    }

    It 'fails with InvalidTopic for a topic over 255 bytes' {
        { Send-MessengerMessage -Node alpha -To bravo -Message 'x' -Topic ('t' * 300) } |
            Should -Throw -ErrorId 'InvalidTopic,Messenger.PowerShell.Commands.SendMessengerMessageCommand'
    }

    It 'writes objects deeper than -Depth as strings' {
        Send-MessengerMessage -Node alpha -To bravo -Message @{ l1 = @{ l2 = @{ l3 = 'deep' } } } -Depth 1
        $m = Receive-MessengerMessage -Node bravo -Count 1 -Timeout 10
        $m.Body.l1 | Should -BeOfType ([string])
    }

    It 'converts received messages to JSON and back' {
        Send-MessengerMessage -Node alpha -To bravo -Message @{ k = 'v' } -Topic 'json'
        $m = Receive-MessengerMessage -Node bravo -Count 1 -Timeout 10
        $back = $m | ConvertTo-Json -WarningVariable warnings | ConvertFrom-Json
        $warnings | Should -BeNullOrEmpty
        $back.From | Should -Be 'alpha'
        $back.To | Should -Be 'bravo'
        $back.Topic | Should -Be 'json'
        $back.Body.k | Should -Be 'v'
        $back.Sequence | Should -Be $m.Sequence
    }

    It 'shows received messages in a table' {
        # The pipeline enumerates one level: a string, a byte array and a hashtable make three messages.
        'shown', ([byte[]](1, 2)), @{ a = 1 } | Send-MessengerMessage -Node alpha -To bravo
        $text = Receive-MessengerMessage -Node bravo -Count 3 -Timeout 10 | Format-Table | Out-String -Width 200
        $text | Should -Match 'alpha\s+bravo\s+Unicast\s+\d+\s+shown'
        $text | Should -Match '\[2 bytes\]'
        $text | Should -Match '\{"a":1\}'
    }
}

Describe 'Send-MessengerBroadcast' {
    BeforeEach {
        $null = Receive-MessengerMessage -Node alpha
        $null = Receive-MessengerMessage -Node bravo
    }

    It 'reaches every connected peer, not the sender' {
        'b1', 'b2' | Send-MessengerBroadcast -Node bravo -Topic 'news'
        $m = Receive-MessengerMessage -Node alpha -Count 2 -Timeout 10
        $m.Body | Should -Be 'b1', 'b2'
        $m.Kind | Should -Be 'Broadcast', 'Broadcast'
        $m.Topic | Should -Be 'news', 'news'
        Receive-MessengerMessage -Node bravo | Should -BeNullOrEmpty
    }

    It 'broadcasts objects as JSON' {
        Send-MessengerBroadcast -Node alpha -Message ([pscustomobject]@{ status = 'ok'; load = 0.25 })
        $m = Receive-MessengerMessage -Node bravo -Count 1 -Timeout 10
        $m.Body.status | Should -Be 'ok'
        $m.Body.load | Should -Be 0.25
    }
}

Describe 'A send stream that meets a smaller limit' {
    BeforeAll {
        $script:d = Start-MessengerNode -Name 'delta' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
    }
    AfterAll { Get-MessengerNode -Name delta, echo -ErrorAction SilentlyContinue | Stop-MessengerNode }

    It 'refuses alone each body over the limit of a peer that joins during the stream, and sends the rest' {
        # delta's command begins with no peer; echo, which takes at most 1024 bytes, joins between two messages.
        & {
            'before'
            $e = Start-MessengerNode -Name 'echo' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon -MaxMessageSize 1024
            $null = Connect-MessengerPeer -Node delta -Endpoint $e.Endpoint -Timeout 20
            'x' * 2000
            'after'
            'y' * 1500
            'end'
        } | Send-MessengerBroadcast -Node delta -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 2
        $err.FullyQualifiedErrorId | Should -Be (@('MessageTooLarge,Messenger.PowerShell.Commands.SendMessengerBroadcastCommand') * 2)
        $err[0].Exception.Message | Should -Match "2000 bytes; node 'echo' accepts at most 1024"
        $err[1].Exception.Message | Should -Match "1500 bytes; node 'echo' accepts at most 1024"
        (Receive-MessengerMessage -Node echo -Count 2 -Timeout 20).Body | Should -Be 'after', 'end'
    }
}

Describe 'A send to several peers of different limits' {
    BeforeAll {
        $script:i = Start-MessengerNode -Name 'india' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        $script:j = Start-MessengerNode -Name 'juliett' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        $script:k = Start-MessengerNode -Name 'kilo' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon -MaxMessageSize 1024
        $null = Connect-MessengerPeer -Node india -Endpoint $script:j.Endpoint, $script:k.Endpoint -Timeout 20
    }
    AfterAll { Get-MessengerNode -Name india, juliett, kilo -ErrorAction SilentlyContinue | Stop-MessengerNode }

    It 'refuses a body only to the peer it is too large for, naming it, and sends it to the others' -ForEach @(
        @{ Body = 'x' * 2000; Ack = $false }
        @{ Body = [byte[]]::new(2000); Ack = $false }
        @{ Body = 'z' * 2000; Ack = $true }
    ) {
        # The smallest limit among -To was taken for all: the message went to none, with one error naming both.
        Send-MessengerMessage -Node india -To juliett, kilo -Message $Body -WaitForAck:$Ack -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'MessageTooLarge,Messenger.PowerShell.Commands.SendMessengerMessageCommand'
        $err[0].TargetObject | Should -Be 'kilo'
        (Receive-MessengerMessage -Node juliett -Count 1 -Timeout 20).Body.Length | Should -Be 2000
    }

    It 'refuses with one error a body over the sending node''s own limit, which no peer could take' -ForEach @(
        @{ Body = 'x' * 1048577 }
        @{ Body = [byte[]]::new(1048577) }
    ) {
        Send-MessengerMessage -Node india -To juliett, kilo -Message $Body -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].TargetObject | Should -Be 'juliett,kilo'
        $err[0].Exception.Message | Should -Match 'this node accepts at most 1048576'
    }
}

Describe 'A send stream whose smaller limit leaves' {
    BeforeAll {
        $script:f = Start-MessengerNode -Name 'foxtrot' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        $script:g = Start-MessengerNode -Name 'golf' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        $script:h = Start-MessengerNode -Name 'hotel' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon -MaxMessageSize 1024
    }
    AfterAll {
        Get-EventSubscriber -SourceIdentifier 'limit.left' -ErrorAction SilentlyContinue | Unregister-Event
        Get-MessengerNode -Name foxtrot, golf, hotel -ErrorAction SilentlyContinue | Stop-MessengerNode
    }

    It 'sends bodies over the limit of a peer that has left since the stream began' {
        $null = Connect-MessengerPeer -Node foxtrot -Endpoint $script:g.Endpoint, $script:h.Endpoint -Timeout 20
        Register-MessengerEvent -Node foxtrot -EventName PeerLeft -SourceIdentifier 'limit.left'
        & {
            'x' * 2000
            Stop-MessengerNode -Node hotel
            $null = Wait-Event -SourceIdentifier 'limit.left' -Timeout 20
            'y' * 2000
        } | Send-MessengerBroadcast -Node foxtrot -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].Exception.Message | Should -Match "2000 bytes; node 'hotel' accepts at most 1024"
        (Receive-MessengerMessage -Node golf -Count 1 -Timeout 20).Body | Should -Be ('y' * 2000)
    }
}

Describe 'Register-MessengerEvent' {
    AfterEach {
        Get-EventSubscriber | Where-Object SourceIdentifier -like 'pester.*' | Unregister-Event
        Get-Event | Where-Object SourceIdentifier -like 'pester.*' | Remove-Event
    }

    It 'delivers MessageReceived events with the message, instead of the receive queue' {
        Register-MessengerEvent -Node bravo -EventName MessageReceived -SourceIdentifier 'pester.received' -MessageData 'extra'
        Send-MessengerMessage -Node alpha -To bravo -Message @{ n = 7 }
        $event = Wait-Event -SourceIdentifier 'pester.received' -Timeout 10
        $event | Should -Not -BeNullOrEmpty
        $event.SourceEventArgs.Node | Should -Be 'bravo'
        $event.SourceEventArgs.Message.From | Should -Be 'alpha'
        $event.SourceEventArgs.Message.Body.n | Should -Be 7
        $event.MessageData | Should -Be 'extra'
        $event.Sender.Name | Should -Be 'bravo'
        Receive-MessengerMessage -Node bravo | Should -BeNullOrEmpty
    }

    It 'gives messages back to Receive-MessengerMessage once unregistered' {
        Register-MessengerEvent -Node bravo -EventName MessageReceived -SourceIdentifier 'pester.received2'
        Unregister-Event -SourceIdentifier 'pester.received2'
        Send-MessengerMessage -Node alpha -To bravo -Message 'back to the queue'
        (Receive-MessengerMessage -Node bravo -Count 1 -Timeout 10).Body | Should -Be 'back to the queue'
    }

    It 'raises PeerJoined and PeerLeft as a node comes and goes' {
        Register-MessengerEvent -Node alpha -EventName PeerJoined -SourceIdentifier 'pester.joined'
        Register-MessengerEvent -Node alpha -EventName PeerLeft -SourceIdentifier 'pester.left'
        $c = Start-MessengerNode -Name 'charlie' -Cluster $script:Cluster -BindAddress 127.0.0.1 -BeaconInterface lo
        try {
            $joined = Wait-Event -SourceIdentifier 'pester.joined' -Timeout 20
            $joined.SourceEventArgs.Peer.Name | Should -Be 'charlie'
            $joined.SourceEventArgs.Peer.State | Should -Be 'Connected'
            $joined.SourceEventArgs.Node | Should -Be 'alpha'
            Wait-MessengerPeer -Node charlie -Name alpha -Timeout 20
        }
        finally {
            Stop-MessengerNode -Node $c
        }
        $left = Wait-Event -SourceIdentifier 'pester.left' -Timeout 20
        $left.SourceEventArgs.Peer.Name | Should -Be 'charlie'
        $left.SourceEventArgs.Reason | Should -Not -BeNullOrEmpty
        $table = Get-MessengerPeer -Node alpha
        ($table | Where-Object State -eq 'Connected').Name | Should -Not -Contain 'charlie' -Because ($table | Format-Table Name, State, DiscoveredBy | Out-String)
    }

    It 'runs an -Action block and returns its job' {
        $job = Register-MessengerEvent -Node bravo -EventName MessageReceived -SourceIdentifier 'pester.action' -Action {
            New-Event -SourceIdentifier 'pester.actionran' -MessageData $Event.SourceEventArgs.Message.Body | Out-Null
        }
        $job | Should -BeOfType ([System.Management.Automation.PSEventJob])
        Send-MessengerMessage -Node alpha -To bravo -Message 'ping the action'
        (Wait-Event -SourceIdentifier 'pester.actionran' -Timeout 10).MessageData | Should -Be 'ping the action'
        $job | Remove-Job -Force
    }

    It 'completes event names on Tab' {
        $line = 'Register-MessengerEvent -EventName Peer'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText |
            Should -Be 'PeerJoined', 'PeerLeft', 'PeerUnreachable'
    }
}

Describe 'Connect-MessengerPeer' {
    BeforeAll {
        $script:x = Start-MessengerNode -Name 'xray' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
        $script:y = Start-MessengerNode -Name 'yankee' -Cluster $script:Cluster -BindAddress 127.0.0.1 -NoBeacon
    }
    AfterAll { Stop-MessengerNode -Node xray, yankee }

    It 'joins through an endpoint and outputs the peer there' {
        $peer = Connect-MessengerPeer -Node xray -Endpoint $script:y.Endpoint -Timeout 20
        $peer.Name | Should -Be 'yankee'
        $peer.State | Should -Be 'Connected'
        Wait-MessengerPeer -Node yankee -Name xray -Timeout 20
        Send-MessengerMessage -Node yankee -To xray -Message 'via seed'
        (Receive-MessengerMessage -Node xray -Count 1 -Timeout 10).Body | Should -Be 'via seed'
    }

    It 'waits with -Timeout -1, and finds a peer connected there already with -Timeout 0' {
        (Connect-MessengerPeer -Node xray -Endpoint $script:y.Endpoint -Timeout -1).State | Should -Be 'Connected'
        (Connect-MessengerPeer -Node xray -Endpoint $script:y.Endpoint -Timeout 0).Name | Should -Be 'yankee'
    }

    It 'takes endpoints by property name from the pipeline' {
        ($script:y | Connect-MessengerPeer -Node xray -Timeout 20).Name | Should -Be 'yankee'
    }

    It 'writes InvalidConfiguration for an endpoint that is not tcp://host:port' {
        Connect-MessengerPeer -Node xray -Endpoint 'udp://nowhere' -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'InvalidConfiguration,Messenger.PowerShell.Commands.ConnectMessengerPeerCommand'
    }

    It 'writes PeerWaitTimeout when nobody answers there' {
        Connect-MessengerPeer -Node xray -Endpoint 'tcp://127.0.0.1:9' -Timeout 0.5 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'PeerWaitTimeout,Messenger.PowerShell.Commands.ConnectMessengerPeerCommand'
    }

    It 'writes PeerWaitTimeout saying why when the host name does not resolve' {
        Connect-MessengerPeer -Node xray -Endpoint 'tcp://nonexistent-host.invalid:5555' -Timeout 0.5 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'PeerWaitTimeout,Messenger.PowerShell.Commands.ConnectMessengerPeerCommand'
        $err[0].Exception.Message | Should -BeLike "*the host 'nonexistent-host.invalid' does not resolve*"
        $script:x.State | Should -Be 'Running'
        $script:x.Statistics.Restarts | Should -Be 0
    }

    It 'connects nothing with -WhatIf' {
        Connect-MessengerPeer -Node xray -Endpoint 'tcp://127.0.0.1:9' -WhatIf | Should -BeNullOrEmpty
    }
}
