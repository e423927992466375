#Requires -Version 7.4
<#
.SYNOPSIS
    One node of the Messenger demo, run in a child pwsh by Invoke-MessengerDemo.ps1.
.DESCRIPTION
    Starts a node, then obeys one JSON command per line on standard input and answers each with one line
    "@@ <json>" on standard output: wait, send, broadcast, receive, waitleft, stop. Exits on stop, at the end of
    its input, or after -LifetimeSeconds whatever happens.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $Name,
    [Parameter(Mandatory)] [string] $Cluster,
    [int] $LifetimeSeconds = 90,
    [string] $LogPath
)

$ErrorActionPreference = 'Stop'
$deadline = [DateTime]::UtcNow.AddSeconds($LifetimeSeconds)

function Send-Reply([hashtable] $Reply) {
    [Console]::Out.WriteLine('@@ ' + ($Reply | ConvertTo-Json -Compress -Depth 6))
    [Console]::Out.Flush()
}

function Get-Left { [math]::Max(0.1, ($deadline - [DateTime]::UtcNow).TotalSeconds) }

try {
    Import-Module (Join-Path $ModulePath 'Messenger.psd1')
    $logging = if ($LogPath) { @{ LogPath = $LogPath; LogLevel = 'Debug' } } else { @{} }
    $node = Start-MessengerNode -Name $Name -Cluster $Cluster -BindAddress 127.0.0.1 -BeaconInterface lo @logging
    Register-MessengerEvent -EventName PeerLeft -SourceIdentifier 'demo.left'
    Send-Reply @{ event = 'started'; name = $node.Name; id = $node.Id; endpoint = $node.Endpoint; pid = $PID }
}
catch {
    Send-Reply @{ event = 'error'; step = 'start'; error = "$_"; errorId = $_.FullyQualifiedErrorId }
    exit 1
}

while ([DateTime]::UtcNow -lt $deadline) {
    $line = [Console]::In.ReadLine()
    if ($null -eq $line) { break }
    if (-not $line.Trim()) { continue }
    $command = $line | ConvertFrom-Json
    try {
        switch ($command.op) {
            'wait' {
                $peers = Wait-MessengerPeer -Name $command.peers -Timeout ([math]::Min($command.timeout, (Get-Left))) -PassThru
                Send-Reply @{ event = 'connected'; peers = @($peers | ForEach-Object {
                            @{ name = $_.Name; state = "$($_.State)"; discoveredBy = $_.DiscoveredBy; endpoint = $_.Endpoint }
                        })
                }
            }
            'send' {
                Send-MessengerMessage -To $command.to -Message $command.text -Topic 'demo'
                Send-MessengerMessage -To $command.to -Message @{ from = $Name; numbers = 1, 2, 3; sentAt = [DateTime]::UtcNow } -Topic 'demo'
                Send-Reply @{ event = 'sent'; to = $command.to }
            }
            'broadcast' {
                Send-MessengerBroadcast -Message $command.text -Topic 'demo'
                Send-Reply @{ event = 'broadcast' }
            }
            'receive' {
                $messages = Receive-MessengerMessage -Topic 'demo' -Count $command.count -Timeout ([math]::Min($command.timeout, (Get-Left))) -ErrorAction SilentlyContinue
                Send-Reply @{ event = 'received'; messages = @($messages | ForEach-Object {
                            @{ from = $_.From; kind = "$($_.Kind)"; contentType = "$($_.ContentType)"; body = $_.Body; sequence = $_.Sequence }
                        })
                }
            }
            'waitleft' {
                $gone = $null
                while (-not $gone -and [DateTime]::UtcNow -lt $deadline) {
                    $event = Wait-Event -SourceIdentifier 'demo.left' -Timeout ([math]::Ceiling([math]::Min($command.timeout, (Get-Left))))
                    if (-not $event) { break }
                    $event | Remove-Event
                    if ($event.SourceEventArgs.Peer.Name -eq $command.peer) { $gone = $event.SourceEventArgs }
                }
                if ($gone) {
                    Send-Reply @{ event = 'left'; peer = $gone.Peer.Name; reason = $gone.Reason; peers = @((Get-MessengerPeer).Name) }
                }
                else {
                    Send-Reply @{ event = 'error'; step = 'waitleft'; error = "did not see $($command.peer) leave" }
                }
            }
            'stop' {
                Stop-MessengerNode
                Send-Reply @{ event = 'stopped' }
                exit 0
            }
            default { Send-Reply @{ event = 'error'; step = $command.op; error = "unknown command '$($command.op)'" } }
        }
    }
    catch {
        # What the node knew when it failed, to tell a discovery problem from a messaging one.
        $peers = @(Get-MessengerPeer -ErrorAction SilentlyContinue | ForEach-Object { "$($_.Name) $($_.State) ($($_.DiscoveredBy))" })
        Send-Reply @{ event = 'error'; step = $command.op; error = "$_"; errorId = $_.FullyQualifiedErrorId; peers = $peers; statistics = $node.Statistics }
    }
}
