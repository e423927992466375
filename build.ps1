#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests, benchmarks and demonstrates Messenger.
.DESCRIPTION
    Tasks:
      Build    compiles the solution and lays the importable module out under out/Messenger
      Test     Build, then every xunit test and every Pester test (in a fresh child pwsh); results under artifacts/test-results
      Bench    the benchmark: Messenger against raw NetMQ, table on screen and artifacts/bench/latest.json
      Demo     three nodes in three child pwsh processes find each other, exchange messages, one leaves
      Package  the module's .nupkg under artifacts/package, through a local PSResourceGet repository
      Stress   floods, fuzzing and long fault runs at full size
    Test, Demo and Bench keep all their traffic on loopback (MESSENGER_BEACON_INTERFACE=lo), and their key files
    under artifacts/messenger-home (MESSENGER_HOME).
.EXAMPLE
    dotnet tool restore && dotnet pwsh ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Bench', 'Demo', 'Package', 'Stress')]
    [string] $Task = 'Build',
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
# MESSENGER_ARTIFACTS moves every output (as Directory.Build.props does for bin and obj), so that two builds of
# one checkout do not overwrite each other's module.
$artifacts = if ($env:MESSENGER_ARTIFACTS) { $env:MESSENGER_ARTIFACTS } else { Join-Path $root 'artifacts' }
$moduleOut = if ($env:MESSENGER_ARTIFACTS) { Join-Path $artifacts 'out/Messenger' } else { Join-Path $root 'out/Messenger' }
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
if (-not $env:MESSENGER_BEACON_INTERFACE) { $env:MESSENGER_BEACON_INTERFACE = 'lo' }
# Key files of nodes started by tests, the demo and benchmarks go here, never into the user's ~/.messenger.
if (-not $env:MESSENGER_HOME) { $env:MESSENGER_HOME = Join-Path $artifacts 'messenger-home' }

function Invoke-Dotnet {
    & dotnet @args
    if ($LASTEXITCODE -ne 0) { throw "dotnet $($args -join ' ') failed with exit code $LASTEXITCODE" }
}

# The command that starts a child pwsh like this one. Under `dotnet pwsh` (the local tool) this process is the
# dotnet host, so the child is `dotnet <PSHOME>/pwsh.dll`.
function Get-PwshCommand {
    $path = (Get-Process -Id $PID).Path
    if ([IO.Path]::GetFileNameWithoutExtension($path) -eq 'dotnet') { return @($path, (Join-Path $PSHOME 'pwsh.dll')) }
    @($path)
}

function Invoke-Pwsh {
    $command = @(Get-PwshCommand)
    $rest = @($command | Select-Object -Skip 1) + $args
    & $command[0] @rest
}

function Invoke-Build {
    Invoke-Dotnet build (Join-Path $root 'Messenger.sln') -c $Configuration --nologo -v quiet
    $psProject = Join-Path $root 'src/Messenger.PowerShell/Messenger.PowerShell.csproj'
    if (-not (Test-Path $psProject)) { Write-Host 'Build: no PowerShell module project yet; module layout skipped.'; return }
    $bin = Join-Path $artifacts "bin/Messenger.PowerShell/$($Configuration.ToLowerInvariant())"
    if (Test-Path $moduleOut) { Remove-Item $moduleOut -Recurse -Force }
    New-Item -ItemType Directory -Path $moduleOut -Force | Out-Null
    # Only what the module needs: its assemblies and their dependencies (not PowerShell's own).
    Get-ChildItem $bin -Filter *.dll | Where-Object Name -NotMatch '^(System\.Management\.Automation|Microsoft\.PowerShell\.)' |
        Copy-Item -Destination $moduleOut
    $version = ([xml](Get-Content (Join-Path $root 'Directory.Build.props') -Raw)).Project.PropertyGroup.Version | Where-Object { $_ } | Select-Object -First 1
    $manifest = Get-Content (Join-Path $root 'Messenger.psd1') -Raw
    $manifest = $manifest -replace "ModuleVersion\s*=\s*'[^']*'", "ModuleVersion = '$version'"
    Set-Content -Path (Join-Path $moduleOut 'Messenger.psd1') -Value $manifest -NoNewline
    foreach ($extra in 'src/Messenger.PowerShell/Messenger.Format.ps1xml', 'src/Messenger.PowerShell/en-US') {
        $path = Join-Path $root $extra
        if (Test-Path $path) { Copy-Item $path -Destination $moduleOut -Recurse -Force }
    }
    Write-Host "Build: module $version laid out in $moduleOut"
}

function Get-PesterPath {
    Invoke-Dotnet restore (Join-Path $root 'tests/Tools/TestTools.csproj') --nologo -v quiet
    $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages' }
    $pester = Join-Path $packages 'pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path $pester)) { throw "Pester was restored, but $pester is missing" }
    $pester
}

function Invoke-Test {
    Invoke-Build
    $results = Join-Path $artifacts 'test-results'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    New-Item -ItemType Directory -Path $results -Force | Out-Null

    $summary = [ordered]@{ Passed = 0; Failed = 0; Skipped = 0 }
    $failures = @()
    $failedTests = @()

    # xunit
    & dotnet test (Join-Path $root 'tests/Messenger.Core.Tests/Messenger.Core.Tests.csproj') -c $Configuration --no-build --nologo `
        --logger 'trx;LogFileName=core.trx' --logger 'console;verbosity=normal' --results-directory $results
    $xunitExit = $LASTEXITCODE
    $trx = Join-Path $results 'core.trx'
    if (Test-Path $trx) {
        $counters = ([xml](Get-Content $trx -Raw)).TestRun.ResultSummary.Counters
        $summary.Passed += [int]$counters.passed
        $summary.Failed += [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted
        $summary.Skipped += [int]$counters.notExecuted
        $ns = @{ t = 'http://microsoft.com/schemas/VisualStudio/TeamTest/2010' }
        foreach ($failed in Select-Xml -Path $trx -Namespace $ns -XPath "//t:UnitTestResult[@outcome!='Passed' and @outcome!='NotExecuted']") {
            $message = ($failed.Node.Output.ErrorInfo.Message -split "`n" | Select-Object -First 3) -join ' / '
            $failedTests += "xunit: $($failed.Node.testName) ($($failed.Node.duration)): $message"
        }
    }
    if ($xunitExit -ne 0) { $failures += "xunit exited with $xunitExit" }

    # Pester, in a fresh child pwsh: a loaded assembly cannot be unloaded from this one.
    $pesterTests = Join-Path $root 'tests/Messenger.PowerShell.Tests'
    if (Get-ChildItem $pesterTests -Filter *.Tests.ps1 -ErrorAction SilentlyContinue) {
        $pester = Get-PesterPath
        $pesterJson = Join-Path $results 'pester-summary.json'
        $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$pester' -MinimumVersion 5.7.1
`$env:MESSENGER_MODULE_PATH = '$moduleOut'
`$c = New-PesterConfiguration
`$c.Run.Path = '$pesterTests'
`$c.Run.PassThru = `$true
`$c.Output.Verbosity = 'Detailed'
`$c.TestResult.Enabled = `$true
`$c.TestResult.OutputFormat = 'JUnitXml'
`$c.TestResult.OutputPath = '$(Join-Path $results 'pester.junit.xml')'
`$r = Invoke-Pester -Configuration `$c
`$r.Failed | ForEach-Object { 'Pester: ' + `$_.ExpandedPath + ': ' + ((`$_.ErrorRecord | Select-Object -First 1) -split '\r?\n')[0] } | Set-Content '$(Join-Path $results 'pester-failed.txt')'
@{ Passed = `$r.PassedCount; Failed = `$r.FailedCount + `$r.FailedBlocksCount + `$r.FailedContainersCount; Skipped = `$r.SkippedCount } | ConvertTo-Json | Set-Content '$pesterJson'
exit ([int](`$r.Result -ne 'Passed'))
"@
        Invoke-Pwsh -NoProfile -NonInteractive -Command $script
        $pesterExit = $LASTEXITCODE
        if (Test-Path $pesterJson) {
            $p = Get-Content $pesterJson -Raw | ConvertFrom-Json
            $summary.Passed += $p.Passed; $summary.Failed += $p.Failed; $summary.Skipped += $p.Skipped
        }
        else { $summary.Failed += 1 }
        $pesterFailed = Join-Path $results 'pester-failed.txt'
        if (Test-Path $pesterFailed) { $failedTests += Get-Content $pesterFailed }
        if ($pesterExit -ne 0) { $failures += "Pester exited with $pesterExit" }
    }

    Write-Host ''
    Write-Host "Results in $results"
    if ($failedTests) {
        Write-Host 'Failed tests:'
        $failedTests | ForEach-Object { Write-Host "  $_" }
    }
    Write-Host "Total: $($summary.Passed) passed, $($summary.Failed) failed, $($summary.Skipped) skipped"
    if ($failures -or $summary.Failed -gt 0) { throw "Tests failed: $($failures -join '; ')" }
}

function Invoke-Bench {
    $project = Join-Path $root 'tests/Messenger.Bench/Messenger.Bench.csproj'
    if (-not (Test-Path $project)) { throw 'Bench: the benchmark project does not exist yet.' }
    Invoke-Build
    $out = Join-Path $artifacts 'bench'
    New-Item -ItemType Directory -Path $out -Force | Out-Null
    # The benchmark starts pwsh itself: give it the pwsh app host next to this PowerShell's assemblies.
    $pwsh = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    if (-not (Test-Path $pwsh)) { $pwsh = (Get-PwshCommand)[0] }
    Invoke-Dotnet run --project $project -c $Configuration --no-build -- --output (Join-Path $out 'latest.json') --module $moduleOut --pwsh $pwsh
}

function Invoke-Demo {
    $demo = Join-Path $root 'tests/Demo/Invoke-MessengerDemo.ps1'
    if (-not (Test-Path $demo)) { throw 'Demo: the demo does not exist yet (it comes with the PowerShell module).' }
    Invoke-Build
    Invoke-Pwsh -NoProfile -NonInteractive -File $demo -ModulePath $moduleOut
    if ($LASTEXITCODE -ne 0) { throw "Demo failed with exit code $LASTEXITCODE" }
}

function Invoke-Package {
    $package = Join-Path $root 'tests/Tools/Publish-MessengerModule.ps1'
    if (-not (Test-Path $package)) { throw 'Package: packaging does not exist yet (it comes with the PowerShell module).' }
    Invoke-Build
    Invoke-Pwsh -NoProfile -NonInteractive -File $package -ModulePath $moduleOut -OutputPath (Join-Path $artifacts 'package')
    if ($LASTEXITCODE -ne 0) { throw "Package failed with exit code $LASTEXITCODE" }
}

function Invoke-Stress {
    $project = Join-Path $root 'tests/Messenger.Stress/Messenger.Stress.csproj'
    if (-not (Test-Path $project)) { throw 'Stress: the stress suite does not exist yet (it comes with the security and supervision work).' }
    Invoke-Build
    Invoke-Dotnet run --project $project -c $Configuration --no-build -- --output (Join-Path $artifacts 'stress')
}

Push-Location $root
try {
    switch ($Task) {
        'Build' { Invoke-Build }
        'Test' { Invoke-Test }
        'Bench' { Invoke-Bench }
        'Demo' { Invoke-Demo }
        'Package' { Invoke-Package }
        'Stress' { Invoke-Stress }
    }
}
finally {
    Pop-Location
}
