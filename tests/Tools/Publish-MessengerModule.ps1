#Requires -Version 7.4
<#
.SYNOPSIS
    Packs the built Messenger module into a .nupkg through a local PSResourceGet repository, and checks it.
.DESCRIPTION
    Registers a temporary PSResourceGet repository on the folder -OutputPath, publishes the module laid out in
    -ModulePath to it (Publish-PSResource writes Messenger.<version>.nupkg there), then proves the package by
    finding it, saving it into a scratch folder and importing it in a child pwsh. The temporary repository is
    unregistered whatever happens.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Package
.EXAMPLE
    pwsh tests/Tools/Publish-MessengerModule.ps1 -ModulePath ./out/Messenger -OutputPath ./artifacts/package
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $OutputPath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Import-Module Microsoft.PowerShell.PSResourceGet -MinimumVersion 1.0

$ModulePath = (Resolve-Path $ModulePath).Path
$manifestPath = Join-Path $ModulePath 'Messenger.psd1'
$manifest = Import-PowerShellDataFile $manifestPath
$version = $manifest.ModuleVersion
New-Item -ItemType Directory -Path $OutputPath -Force | Out-Null
$OutputPath = (Resolve-Path $OutputPath).Path
$package = Join-Path $OutputPath "Messenger.$version.nupkg"
if (Test-Path $package) { Remove-Item $package -Force }

$repository = "MessengerLocal-$([guid]::NewGuid().ToString('n').Substring(0, 8))"
$scratch = Join-Path ([IO.Path]::GetTempPath()) "messenger-package-$([guid]::NewGuid().ToString('n'))"
Register-PSResourceRepository -Name $repository -Uri $OutputPath -Trusted
try {
    Publish-PSResource -Path $ModulePath -Repository $repository
    if (-not (Test-Path $package)) { throw "Publish-PSResource did not write $package" }

    $found = Find-PSResource -Name Messenger -Repository $repository -Version $version
    if (-not $found) { throw "Messenger $version is not found in the repository $OutputPath" }

    # The package must install and import on its own.
    New-Item -ItemType Directory -Path $scratch -Force | Out-Null
    Save-PSResource -Name Messenger -Version $version -Repository $repository -Path $scratch -TrustRepository
    $saved = Join-Path $scratch "Messenger/$version"
    # A child pwsh like this one: under 'dotnet pwsh' (the local tool) this process is the dotnet host.
    $pwsh = @((Get-Process -Id $PID).Path)
    if ([IO.Path]::GetFileNameWithoutExtension($pwsh[0]) -eq 'dotnet') { $pwsh += Join-Path $PSHOME 'pwsh.dll' }
    $check = "Import-Module '$saved/Messenger.psd1' -ErrorAction Stop; (Get-Command -Module Messenger).Count; (Get-Help Start-MessengerNode).Synopsis"
    $rest = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $check)
    $output = & $pwsh[0] @rest
    if ($LASTEXITCODE -ne 0 -or [int]$output[0] -ne $manifest.CmdletsToExport.Count) {
        throw "The saved package does not import cleanly: $($output -join ' / ')"
    }

    $files = [System.IO.Compression.ZipFile]::OpenRead($package)
    try { $entries = $files.Entries.FullName | Where-Object { $_ -notmatch '^(_rels/|package/|\[Content_Types\])' -and $_ -notlike '*.nuspec' } }
    finally { $files.Dispose() }
    Write-Host "Package: $package ($([math]::Round((Get-Item $package).Length / 1KB)) KiB)"
    Write-Host "  $($entries.Count) files: $(($entries | Sort-Object) -join ', ')"
    Write-Host "  checked: found in the repository, saved, imported with $($output[0]) cmdlets"
}
finally {
    Unregister-PSResourceRepository -Name $repository -ErrorAction SilentlyContinue
    if (Test-Path $scratch) { Remove-Item $scratch -Recurse -Force -ErrorAction SilentlyContinue }
}
