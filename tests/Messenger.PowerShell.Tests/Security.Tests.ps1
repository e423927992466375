#Requires -Version 7.4
# Credentials: New-MessengerClusterKey, New-MessengerKeyPair, and Start-MessengerNode's -ClusterKey,
# -ClusterKeyPath, -AllowedKey, -KeyPath and -KeyPair: who may join whom.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSession.ps1')
    $script:Session = Enter-MessengerTestSession 'pester-sec'
    $script:Cluster = $script:Session.Cluster

    function New-TestNode {
        [CmdletBinding()]
        param([string] $Name, [hashtable] $Extra = @{})
        Start-MessengerNode -Name $Name -Cluster $script:Cluster -BindAddress 127.0.0.1 -BeaconInterface lo -PeerTimeout 1 @Extra
    }
}

AfterAll {
    Exit-MessengerTestSession $script:Session
}

Describe 'New-MessengerClusterKey' {
    It 'creates a random key that shows only its fingerprint' {
        $key = New-MessengerClusterKey
        $key | Should -BeOfType ([Messenger.ClusterKey])
        $key.Fingerprint | Should -Match '^[0-9a-f]{16}$'
        "$key" | Should -Not -Match ([regex]::Escape($key.ToBase64()))
        ($key | ConvertTo-Json) | Should -Not -Match ([regex]::Escape($key.ToBase64()))
        (New-MessengerClusterKey).Fingerprint | Should -Not -Be $key.Fingerprint
    }

    It 'outputs base64 text of 32 bytes with -AsPlainText' {
        $text = New-MessengerClusterKey -AsPlainText
        $text | Should -BeOfType ([string])
        [Convert]::FromBase64String($text).Length | Should -Be 32
    }

    It 'saves the key to a file readable by its owner alone' {
        $path = Join-Path $TestDrive 'saved-cluster.key'
        $key = New-MessengerClusterKey -Path $path
        (Get-Content $path -Raw).Trim() | Should -Be $key.ToBase64()
        if (-not $IsWindows) { (Get-Item $path).UnixFileMode | Should -Be ([System.IO.UnixFileMode]'UserRead, UserWrite') }
    }

    It 'resolves -Path against the current location' {
        Push-Location $TestDrive
        try { $null = New-MessengerClusterKey -Path 'relative.key' }
        finally { Pop-Location }
        Join-Path $TestDrive 'relative.key' | Should -Exist
    }

    It 'refuses a relative -Path where the current location is not on the file system: InvalidConfiguration' {
        $unseen = Join-Path ([Environment]::CurrentDirectory) 'env-relative.key'
        Push-Location Env:
        try {
            { New-MessengerClusterKey -Path 'env-relative.key' } |
                Should -Throw -ErrorId 'InvalidConfiguration,Messenger.PowerShell.Commands.NewMessengerClusterKeyCommand'
        }
        finally { Pop-Location }
        $unseen | Should -Not -Exist
    }

    It 'never overwrites a file: InvalidConfiguration' {
        $path = Join-Path $TestDrive 'exists.key'
        Set-Content $path 'precious'
        { New-MessengerClusterKey -Path $path } |
            Should -Throw -ErrorId 'InvalidConfiguration,Messenger.PowerShell.Commands.NewMessengerClusterKeyCommand'
        Get-Content $path | Should -Be 'precious'
    }

    It 'writes nothing with -WhatIf' {
        $path = Join-Path $TestDrive 'whatif.key'
        New-MessengerClusterKey -Path $path -WhatIf | Should -BeNullOrEmpty
        $path | Should -Not -Exist
    }
}

Describe 'New-MessengerKeyPair' {
    It 'creates a key pair with a public key and the node id it gives' {
        $pair = New-MessengerKeyPair
        $pair | Should -BeOfType ([Messenger.MessengerKeyPair])
        [Convert]::FromBase64String($pair.PublicKey).Length | Should -Be 32
        $pair.NodeId | Should -Match '^[0-9a-f]{32}$'
    }

    It 'saves the private key, and a node started with -KeyPath has that identity' {
        $path = Join-Path $TestDrive 'identity.key'
        $pair = New-MessengerKeyPair -Path $path
        if (-not $IsWindows) { (Get-Item $path).UnixFileMode | Should -Be ([System.IO.UnixFileMode]'UserRead, UserWrite') }
        $node = New-TestNode -Name 'withkeyfile' -Extra @{ KeyPath = $path; NoBeacon = $true }
        try {
            $node.PublicKey | Should -Be $pair.PublicKey
            $node.Id | Should -Be $pair.NodeId
        }
        finally { Stop-MessengerNode -Node $node }
    }

    It 'gives a node started with -KeyPair that identity' {
        $pair = New-MessengerKeyPair
        $node = New-TestNode -Name 'withpair' -Extra @{ KeyPair = $pair; NoBeacon = $true }
        try { $node.Id | Should -Be $pair.NodeId }
        finally { Stop-MessengerNode -Node $node }
    }

    It 'never overwrites a file: InvalidConfiguration' {
        $path = Join-Path $TestDrive 'taken.key'
        Set-Content $path 'x'
        { New-MessengerKeyPair -Path $path } | Should -Throw -ErrorId 'InvalidConfiguration,Messenger.PowerShell.Commands.NewMessengerKeyPairCommand'
    }
}

Describe 'Who may join: cluster keys and allowlists' {
    AfterEach { Get-MessengerNode | Stop-MessengerNode }

    It 'connects nodes that share a key given as an object or as base64 text' {
        $key = New-MessengerClusterKey
        $a = New-TestNode -Name 'k-a' -Extra @{ ClusterKey = $key }
        $b = New-TestNode -Name 'k-b' -Extra @{ ClusterKey = $key.ToBase64() }
        Wait-MessengerPeer -Node $a -Name 'k-b' -Timeout 20
        $a.Membership | Should -Match $key.Fingerprint
        $b.Membership | Should -Match $key.Fingerprint
    }

    It 'connects nodes that read the same key file' {
        $path = Join-Path $TestDrive 'shared-cluster.key'
        $null = New-MessengerClusterKey -Path $path
        $a = New-TestNode -Name 'f-a' -Extra @{ ClusterKeyPath = $path }
        $null = New-TestNode -Name 'f-b' -Extra @{ ClusterKeyPath = $path }
        Wait-MessengerPeer -Node $a -Name 'f-b' -Timeout 20
    }

    It 'keeps a node with another key out' {
        $key = New-MessengerClusterKey
        $a = New-TestNode -Name 'x-a' -Extra @{ ClusterKey = $key }
        $b = New-TestNode -Name 'x-b' -Extra @{ ClusterKey = $key }
        $stranger = New-TestNode -Name 'x-stranger' -Extra @{ ClusterKey = (New-MessengerClusterKey) }
        Wait-MessengerPeer -Node $a -Name 'x-b' -Timeout 20
        { Wait-MessengerPeer -Node $a -Name 'x-stranger' -Timeout 2 } |
            Should -Throw -ErrorId 'PeerWaitTimeout,Messenger.PowerShell.Commands.WaitMessengerPeerCommand'
        (Get-MessengerPeer -Node $stranger -State Connected) | Should -BeNullOrEmpty
        ($a.Statistics.HandshakesRefused + $stranger.Statistics.HandshakesRefused) | Should -BeGreaterThan 0
    }

    It 'writes HandshakeRefused, a ConnectionError, when a node of another key is asked to connect' {
        $a = New-TestNode -Name 'r-a' -Extra @{ ClusterKey = (New-MessengerClusterKey); NoBeacon = $true }
        $stranger = New-TestNode -Name 'r-stranger' -Extra @{ ClusterKey = (New-MessengerClusterKey); NoBeacon = $true }
        Connect-MessengerPeer -Node $stranger -Endpoint $a.Endpoint -Timeout 20 -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'HandshakeRefused,Messenger.PowerShell.Commands.ConnectMessengerPeerCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ConnectionError'
    }

    It 'admits by allowlist alone, taking key pairs for their public keys' {
        $ka = New-MessengerKeyPair
        $kb = New-MessengerKeyPair
        $kc = New-MessengerKeyPair
        $a = New-TestNode -Name 'l-a' -Extra @{ KeyPair = $ka; AllowedKey = $kb.PublicKey }
        $null = New-TestNode -Name 'l-b' -Extra @{ KeyPair = $kb; AllowedKey = $ka }
        $null = New-TestNode -Name 'l-c' -Extra @{ KeyPair = $kc; AllowedKey = $ka, $kb }
        Wait-MessengerPeer -Node $a -Name 'l-b' -Timeout 20
        $a.Membership | Should -Match 'allowlist'
        { Wait-MessengerPeer -Node $a -Name 'l-c' -Timeout 2 } |
            Should -Throw -ErrorId 'PeerWaitTimeout,Messenger.PowerShell.Commands.WaitMessengerPeerCommand'
    }

    It 'writes InvalidConfiguration for a cluster key that is not base64 of 32 bytes' {
        { New-TestNode -Name 'badkey' -Extra @{ ClusterKey = 'bm90IGEga2V5' } -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidConfiguration,Messenger.PowerShell.Commands.StartMessengerNodeCommand'
        { New-TestNode -Name 'badkey2' -Extra @{ ClusterKey = 42 } -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidConfiguration,Messenger.PowerShell.Commands.StartMessengerNodeCommand'
        Get-MessengerNode | Should -BeNullOrEmpty
    }
}
