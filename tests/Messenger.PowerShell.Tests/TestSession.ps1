# The set-up every Pester file shares, dot-sourced in its BeforeAll: the module under test (out/Messenger, or
# $env:MESSENGER_MODULE_PATH), no node left from another file, key files under a MESSENGER_HOME of its own (child
# processes inherit it, so they share the cluster key), and a cluster name no other file uses.

function Enter-MessengerTestSession([Parameter(Mandatory)] [string] $ClusterPrefix) {
    $modulePath = if ($env:MESSENGER_MODULE_PATH) { $env:MESSENGER_MODULE_PATH } else { Join-Path $PSScriptRoot '../../out/Messenger' }
    $modulePath = (Resolve-Path $modulePath).Path
    Import-Module (Join-Path $modulePath 'Messenger.psd1') -Global
    Get-MessengerNode | Stop-MessengerNode
    $session = [pscustomobject]@{
        ModulePath   = $modulePath
        Cluster      = "$ClusterPrefix-$([guid]::NewGuid().ToString('n').Substring(0, 8))"
        PreviousHome = $env:MESSENGER_HOME
    }
    $env:MESSENGER_HOME = Join-Path ([IO.Path]::GetTempPath()) "messenger-pester-$([guid]::NewGuid().ToString('n'))"
    $session
}

# The matching AfterAll: stops every node of the session, deletes its key files, restores MESSENGER_HOME.
function Exit-MessengerTestSession([Parameter(Mandatory)] $Session) {
    Get-MessengerNode | Stop-MessengerNode
    if (Test-Path $env:MESSENGER_HOME) { Remove-Item $env:MESSENGER_HOME -Recurse -Force }
    $env:MESSENGER_HOME = $Session.PreviousHome
}
