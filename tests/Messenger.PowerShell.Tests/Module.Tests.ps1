#Requires -Version 7.4
# The module as shipped: manifest, exported commands, help for every cmdlet, about_Messenger, table views.

BeforeDiscovery {
    $script:ExpectedCmdlets = @(
        'Connect-MessengerPeer', 'Get-MessengerNode', 'Get-MessengerPeer', 'New-MessengerClusterKey', 'New-MessengerKeyPair',
        'Receive-MessengerMessage', 'Register-MessengerEvent', 'Send-MessengerBroadcast', 'Send-MessengerMessage', 'Start-MessengerNode',
        'Stop-MessengerNode', 'Wait-MessengerPeer'
    )
}

BeforeAll {
    $modulePath = if ($env:MESSENGER_MODULE_PATH) { $env:MESSENGER_MODULE_PATH } else { Join-Path $PSScriptRoot '../../out/Messenger' }
    $script:ManifestPath = Join-Path $modulePath 'Messenger.psd1'
    $script:Module = Import-Module $script:ManifestPath -PassThru
    $script:ExpectedCmdlets = @(
        'Connect-MessengerPeer', 'Get-MessengerNode', 'Get-MessengerPeer', 'New-MessengerClusterKey', 'New-MessengerKeyPair',
        'Receive-MessengerMessage', 'Register-MessengerEvent', 'Send-MessengerBroadcast', 'Send-MessengerMessage', 'Start-MessengerNode',
        'Stop-MessengerNode', 'Wait-MessengerPeer'
    )
}

Describe 'The module manifest' {
    It 'is valid' {
        $manifest = Test-ModuleManifest -Path $script:ManifestPath
        $manifest.Name | Should -Be 'Messenger'
        $manifest.RootModule | Should -Be 'Messenger.PowerShell.dll'
        $manifest.Version | Should -Be $script:Module.Version
    }

    It 'targets PowerShell 7.6 on Core' {
        $data = Import-PowerShellDataFile $script:ManifestPath
        $data.PowerShellVersion | Should -Be '7.6'
        $data.CompatiblePSEditions | Should -Be 'Core'
        $data.FormatsToProcess | Should -Be 'Messenger.Format.ps1xml'
        $data.PrivateData.PSData.Tags | Should -Contain 'PSEdition_Core'
        $data.Description | Should -Not -BeNullOrEmpty
    }

    It 'lists the exported cmdlets explicitly, without wildcards, and nothing else' {
        $data = Import-PowerShellDataFile $script:ManifestPath
        ($data.CmdletsToExport | Sort-Object) | Should -Be $script:ExpectedCmdlets
        $data.CmdletsToExport | Should -Not -Match '\*'
        $data.FunctionsToExport.Count | Should -Be 0
        $data.AliasesToExport.Count | Should -Be 0
        $data.VariablesToExport.Count | Should -Be 0
    }

    It 'exports exactly those cmdlets' {
        ((Get-Command -Module Messenger).Name | Sort-Object) | Should -Be $script:ExpectedCmdlets
        (Get-Command -Module Messenger).CommandType | Sort-Object -Unique | Should -Be 'Cmdlet'
    }

    It 'uses approved verbs only' {
        $approved = (Get-Verb).Verb
        foreach ($command in Get-Command -Module Messenger) { $approved | Should -Contain $command.Verb }
    }

    It 'ships no PowerShell assemblies of its own' {
        Get-ChildItem $script:Module.ModuleBase -Filter 'System.Management.Automation.dll' | Should -BeNullOrEmpty
    }
}

Describe 'Help for <_>' -ForEach $ExpectedCmdlets {
    BeforeAll {
        $script:help = Get-Help -Name $_ -Full
        $script:command = Get-Command -Name $_
    }

    It 'has a synopsis' {
        $script:help.Synopsis | Should -Not -BeNullOrEmpty
        $script:help.Synopsis | Should -Not -Match '^\s*\S+-\S+\s+\[' -Because 'a synopsis made up from the syntax means the help file was not found'
    }

    It 'has a description' {
        ($script:help.Description.Text -join ' ') | Should -Match '\w{4,}'
    }

    It 'has at least one example with code and remarks' {
        @($script:help.Examples.Example).Count | Should -BeGreaterThan 0
        foreach ($example in $script:help.Examples.Example) {
            $example.Code | Should -Not -BeNullOrEmpty
            ($example.Remarks.Text -join ' ') | Should -Not -BeNullOrEmpty
        }
    }

    It 'describes every parameter' {
        $common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
        foreach ($name in $script:command.Parameters.Keys | Where-Object { $_ -notin $common -or $_ -in 'WhatIf', 'Confirm' }) {
            $parameterHelp = $script:help.Parameters.Parameter | Where-Object Name -eq $name
            $parameterHelp | Should -Not -BeNullOrEmpty -Because "-$name needs help"
            ($parameterHelp.Description.Text -join ' ') | Should -Not -BeNullOrEmpty -Because "-$name needs a description"
        }
    }

    It 'declares its output type' {
        if ($_ -notin 'Send-MessengerMessage', 'Send-MessengerBroadcast') {
            $script:command.OutputType | Should -Not -BeNullOrEmpty
        }
    }
}

Describe 'about_Messenger' {
    It 'is found by Get-Help' {
        $about = Get-Help about_Messenger
        ($about | Out-String) | Should -Match 'SECURITY MODEL'
        ($about | Out-String) | Should -Match 'TROUBLESHOOTING DISCOVERY'
    }
}

Describe 'Table views' {
    It 'has a view for <_>' -ForEach @(
        'Messenger.PowerShell.MessengerNodeInfo', 'Messenger.PowerShell.MessengerPeerInfo', 'Messenger.PowerShell.MessengerReceivedMessage'
    ) {
        Get-FormatData -TypeName $_ | Should -Not -BeNullOrEmpty
    }
}
