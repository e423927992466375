#
# Module manifest for Messenger: a secure peer-to-peer messaging node, driven from PowerShell.
# ModuleVersion is written by build.ps1 from Directory.Build.props (the one place the version lives).
#
@{
    RootModule           = 'Messenger.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    CompatiblePSEditions = @('Core')
    GUID                 = '4adf2cf8-b24b-4765-ab12-a9b2cdd9d31d'
    Author               = 'Messenger'
    CompanyName          = 'Messenger'
    Copyright            = '(c) Messenger. All rights reserved.'
    Description          = 'Messenger: peer-to-peer messaging nodes on NetMQ. Start nodes that find each other by UDP beacon or seeds, watch their peers, send unicast and broadcast messages (strings, bytes or objects as JSON), and script multi-node tests with Pester.'
    PowerShellVersion    = '7.6'
    FormatsToProcess     = @('Messenger.Format.ps1xml')
    CmdletsToExport      = @(
        'Start-MessengerNode'
        'Stop-MessengerNode'
        'Get-MessengerNode'
        'Get-MessengerPeer'
        'Wait-MessengerPeer'
        'Connect-MessengerPeer'
        'Send-MessengerMessage'
        'Send-MessengerBroadcast'
        'Receive-MessengerMessage'
        'Register-MessengerEvent'
        'New-MessengerClusterKey'
        'New-MessengerKeyPair'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('Messaging', 'PeerToPeer', 'NetMQ', 'ZeroMQ', 'Cluster', 'Discovery', 'Pester', 'PSEdition_Core', 'Linux', 'Windows', 'MacOS')
            ReleaseNotes = 'First release: nodes, peers, unicast and broadcast messages, events.'
        }
    }
}
