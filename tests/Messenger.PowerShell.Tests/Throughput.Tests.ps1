#Requires -Version 7.4
# The bulk paths of the message cmdlets: Send-MessengerMessage hands pipeline input to the engine in bursts, and
# Receive-MessengerMessage takes messages off the node's queue thousands at a time. These tests check that nothing
# is lost, reordered or over-taken on the way; how fast it goes is the benchmark's business (no timing here).

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSession.ps1')
    $script:Session = Enter-MessengerTestSession 'pester-tp'
    $script:Cluster = $script:Session.Cluster

    $common = @{ Cluster = $script:Cluster; BindAddress = '127.0.0.1'; BeaconInterface = 'lo' }
    # The sender refuses bodies over 1 KiB, so that MessageTooLarge is cheap to provoke in a stream.
    $script:a = Start-MessengerNode -Name 'tp-send' -MaxMessageSize 1024 @common
    $script:b = Start-MessengerNode -Name 'tp-recv' @common
    Wait-MessengerPeer -Node tp-send -Name tp-recv -Timeout 20
    Wait-MessengerPeer -Node tp-recv -Name tp-send -Timeout 20

    # Pipes the strings "$Prefix 1" .. "$Prefix $Count" into Send-MessengerMessage from tp-send to tp-recv.
    function Send-Numbered([string] $Prefix, [int] $Count, [hashtable] $With = @{}) {
        $items = foreach ($i in 1..$Count) { "$Prefix $i" }
        $items | Send-MessengerMessage -Node tp-send -To tp-recv @With
    }

    # Checks that $Messages are the bodies "$Prefix 1" .. "$Prefix $Count" with consecutive sequence numbers.
    function Assert-Stream([object[]] $Messages, [string] $Prefix, [int] $Count) {
        $Messages.Count | Should -Be $Count
        for ($i = 0; $i -lt $Count; $i++) {
            $expected = "$Prefix $($i + 1)"
            if ($Messages[$i].Body -cne $expected) { throw "message $i is '$($Messages[$i].Body)', expected '$expected'" }
            if ($i -gt 0 -and $Messages[$i].Sequence -ne $Messages[$i - 1].Sequence + 1) { throw "sequence gap at message $i" }
        }
    }
}

AfterAll {
    Exit-MessengerTestSession $script:Session
}

Describe 'The message cmdlets in bulk' {
    # Every test starts with an empty receive queue.
    BeforeEach {
        $null = Receive-MessengerMessage -Node tp-recv
    }

    Context 'Send-MessengerMessage as a stream' {
        It 'delivers a pipeline of 100,000 strings complete and in order (received in many batches)' {
            Send-Numbered 'bulk' 100000
            $m = Receive-MessengerMessage -Node tp-recv -Count 100000 -Timeout 120
            Assert-Stream $m 'bulk' 100000
            $m[0].From | Should -Be 'tp-send'
            $m[0].ContentType | Should -Be 'Text'
        }

        It 'sends a burst while its pipeline waits for more input' {
            # The upstream emits a quick burst, then (with Send-MessengerMessage still running) waits for all of it
            # to arrive: nothing may wait for the pipeline to end.
            $script:early = $null
            & {
                foreach ($i in 1..1500) { "burst $i" }
                $script:early = Receive-MessengerMessage -Node tp-recv -Count 1500 -Timeout 30
            } | Send-MessengerMessage -Node tp-send -To tp-recv
            Assert-Stream $script:early 'burst' 1500
        }

        It 'keeps the order of mixed strings, byte arrays and objects' {
            $items = @('first', [byte[]](1, 2, 3), [pscustomobject]@{ n = 1 }, 'last')
            $items | Send-MessengerMessage -Node tp-send -To tp-recv
            $m = Receive-MessengerMessage -Node tp-recv -Count 4 -Timeout 20
            $m.ContentType | Should -Be 'Text', 'Binary', 'Json', 'Text'
            $m[0].Body | Should -BeExactly 'first'
            , $m[1].Body | Should -BeOfType ([byte[]])
            $m[1].Size | Should -Be 3
            $m[2].Body.n | Should -Be 1
            $m[3].Body | Should -BeExactly 'last'
        }

        It 'writes MessageTooLarge for a string over the limit, in bytes, and sends the rest of the stream' {
            # 600 characters, but 1,200 bytes of UTF-8: over the sender's 1 KiB.
            $items = @('before', ('é' * 600), ('x' * 2000), 'after')
            $items | Send-MessengerMessage -Node tp-send -To tp-recv -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 2
            $err[0].FullyQualifiedErrorId | Should -Be 'MessageTooLarge,Messenger.PowerShell.Commands.SendMessengerMessageCommand'
            $err[0].Exception.Message | Should -Match '1200'
            (Receive-MessengerMessage -Node tp-recv -Count 2 -Timeout 20).Body | Should -Be 'before', 'after'
        }

        It 'carries -Topic on every message of a stream' {
            Send-Numbered 'topic' 3000 -With @{ Topic = 'tp.bulk' }
            $m = Receive-MessengerMessage -Node tp-recv -Topic 'tp.*' -Count 3000 -Timeout 60
            Assert-Stream $m 'topic' 3000
            ($m.Topic | Sort-Object -Unique) | Should -Be 'tp.bulk'
        }

        It 'streams broadcasts in order' {
            $items = foreach ($i in 1..5000) { "cast $i" }
            $items | Send-MessengerBroadcast -Node tp-send
            $m = Receive-MessengerMessage -Node tp-recv -Kind Broadcast -Count 5000 -Timeout 60
            Assert-Stream $m 'cast' 5000
            ($m.Kind | Sort-Object -Unique) | Should -Be 'Broadcast'
        }

        It 'sends a stream one acknowledged message at a time with -WaitForAck' {
            Send-Numbered 'ack' 50 -With @{ WaitForAck = $true }
            $m = Receive-MessengerMessage -Node tp-recv -Count 50 -Timeout 20
            Assert-Stream $m 'ack' 50
        }
    }

    Context 'Receive-MessengerMessage in bulk' {
        It 'takes exactly -Count messages, however they are batched, and leaves the rest' {
            Send-Numbered 'count' 10000
            $first = Receive-MessengerMessage -Node tp-recv -Count 4097 -Timeout 60
            Assert-Stream $first 'count' 4097
            $rest = Receive-MessengerMessage -Node tp-recv -Count 5903 -Timeout 60
            $rest.Count | Should -Be 5903
            $rest[0].Body | Should -Be 'count 4098'
            $rest[-1].Body | Should -Be 'count 10000'
            $rest[0].Sequence | Should -Be ($first[-1].Sequence + 1)
            Receive-MessengerMessage -Node tp-recv | Should -BeNullOrEmpty
        }

        It 'loses nothing when the pipeline stops early' {
            # All of them wait in the queue, so that the receive takes them in one batch and must put most back: the
            # last one's acknowledgement means the receiving node has queued it, and every one before it.
            Send-Numbered 'stop' 2999
            Send-MessengerMessage -Node tp-send -To tp-recv -Message 'stop 3000' -WaitForAck
            $script:b.PendingMessageCount | Should -BeGreaterOrEqual 3000
            (Receive-MessengerMessage -Node tp-recv -Count 3000 -Timeout 20 | Select-Object -First 3).Body |
                Should -Be 'stop 1', 'stop 2', 'stop 3'
            $rest = Receive-MessengerMessage -Node tp-recv -Count 2997 -Timeout 20
            $rest.Count | Should -Be 2997
            $rest[0].Body | Should -Be 'stop 4'
            $rest[-1].Body | Should -Be 'stop 3000'
        }

        It 'keeps filtered-out messages for later receives, in order, across batches' {
            Send-Numbered 'filter' 6000 -With @{ Topic = 'even' }
            Send-MessengerMessage -Node tp-send -To tp-recv -Topic 'wanted' -Message 'the one'
            (Receive-MessengerMessage -Node tp-recv -Topic 'wanted' -Count 1 -Timeout 30).Body | Should -Be 'the one'
            $kept = Receive-MessengerMessage -Node tp-recv
            Assert-Stream $kept 'filter' 6000
        }

        It 'decodes a body once: every read returns the same object' {
            Send-MessengerMessage -Node tp-send -To tp-recv -Message @{ k = 'v' }
            $m = Receive-MessengerMessage -Node tp-recv -Count 1 -Timeout 20
            [object]::ReferenceEquals($m.Body, $m.Body) | Should -BeTrue
            $m.Body.k | Should -Be 'v'
            $m.Size | Should -BeGreaterThan 0
        }

        It 'leaves the queue to MessageReceived subscribers while they exist' {
            Register-MessengerEvent -Node tp-recv -EventName MessageReceived -SourceIdentifier 'tp.received'
            try {
                Send-MessengerMessage -Node tp-send -To tp-recv -Message 'for the event'
                $first = Wait-Event -SourceIdentifier 'tp.received' -Timeout 20
                $first.SourceEventArgs.Message.Body | Should -Be 'for the event'
                Remove-Event -EventIdentifier $first.EventIdentifier
                Send-MessengerMessage -Node tp-send -To tp-recv -Message 'also for the event'
                $m = Receive-MessengerMessage -Node tp-recv -Count 1 -Timeout 0.5 -ErrorVariable err -ErrorAction SilentlyContinue
                $m | Should -BeNullOrEmpty
                $err[0].FullyQualifiedErrorId | Should -Be 'ReceiveTimeout,Messenger.PowerShell.Commands.ReceiveMessengerMessageCommand'
                (Wait-Event -SourceIdentifier 'tp.received' -Timeout 20).SourceEventArgs.Message.Body | Should -Be 'also for the event'
            }
            finally {
                Unregister-Event -SourceIdentifier 'tp.received'
                Get-Event -SourceIdentifier 'tp.received' -ErrorAction SilentlyContinue | Remove-Event
            }
            Send-MessengerMessage -Node tp-send -To tp-recv -Message 'back to the queue'
            (Receive-MessengerMessage -Node tp-recv -Count 1 -Timeout 20).Body | Should -Be 'back to the queue'
        }
    }
}
