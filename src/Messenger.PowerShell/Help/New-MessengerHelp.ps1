#Requires -Version 7.4
<#
.SYNOPSIS
    Writes the module's MAML help (en-US/Messenger.PowerShell.dll-Help.xml) from MessengerHelp.psd1 and the
    cmdlets' own metadata.
.DESCRIPTION
    The text (synopsis, description, parameter descriptions, examples) lives in MessengerHelp.psd1; parameter
    sets, types, positions, pipeline input and defaults come from the built cmdlets, so the help cannot drift
    from the code. A cmdlet's Defaults table in MessengerHelp.psd1 names the default of a parameter whose initial
    value is not it (a fresh GUID), so that the XML is the same on every run. Run it in a fresh pwsh after a change of text or parameters, and commit the XML:
        dotnet pwsh -NoProfile -File src/Messenger.PowerShell/Help/New-MessengerHelp.ps1 -ModulePath out/Messenger
    It fails when a cmdlet or a parameter has no text.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [string] $OutputPath = (Join-Path $PSScriptRoot '../en-US/Messenger.PowerShell.dll-Help.xml')
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$module = Import-Module (Join-Path $ModulePath 'Messenger.psd1') -PassThru
$help = Import-PowerShellDataFile (Join-Path $PSScriptRoot 'MessengerHelp.psd1')
$common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters |
    Where-Object { $_ -notin 'WhatIf', 'Confirm' }

$maml = 'http://schemas.microsoft.com/maml/2004/10'
$command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$dev = 'http://schemas.microsoft.com/maml/dev/2004/10'

$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$full = [IO.Path]::GetFullPath($OutputPath)
New-Item -ItemType Directory -Path (Split-Path $full) -Force | Out-Null
$w = [System.Xml.XmlWriter]::Create($full, $settings)

function Write-Paras([string[]] $Paragraphs) {
    $w.WriteStartElement('maml', 'description', $maml)
    foreach ($p in $Paragraphs) { $w.WriteElementString('maml', 'para', $maml, $p) }
    $w.WriteEndElement()
}

function Get-ParameterText($cmdletHelp, [string] $Name, [string] $Cmdlet) {
    if ($cmdletHelp.Parameters.ContainsKey($Name)) { return $cmdletHelp.Parameters[$Name] }
    if ($help.Common.ContainsKey($Name)) { return $help.Common[$Name] }
    throw "MessengerHelp.psd1 has no text for $Cmdlet -$Name"
}

function Get-PipelineText($parameter) {
    $kinds = @()
    if ($parameter.ValueFromPipelineByPropertyName) { $kinds += 'ByPropertyName' }
    if ($parameter.ValueFromPipeline) { $kinds += 'ByValue' }
    if ($kinds) { "True ($($kinds -join ', '))" } else { 'False' }
}

function Get-TypeName([type] $Type) {
    if ($Type -eq [System.Management.Automation.SwitchParameter]) { return 'SwitchParameter' }
    $Type.Name
}

function Write-Parameter($parameter, $cmdletHelp, [string] $Cmdlet, [bool] $Required, [string] $Position, [object] $Default) {
    $isSwitch = $parameter.ParameterType -eq [System.Management.Automation.SwitchParameter]
    $w.WriteStartElement('command', 'parameter', $command)
    $w.WriteAttributeString('required', $Required.ToString().ToLowerInvariant())
    $w.WriteAttributeString('variableLength', ($parameter.ParameterType.IsArray).ToString().ToLowerInvariant())
    $globbing = [bool]($parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
    $w.WriteAttributeString('globbing', $globbing.ToString().ToLowerInvariant())
    $w.WriteAttributeString('pipelineInput', (Get-PipelineText $parameter))
    $w.WriteAttributeString('position', $Position)
    $w.WriteAttributeString('aliases', ($parameter.Aliases ? ($parameter.Aliases -join ', ') : 'none'))
    $w.WriteElementString('maml', 'name', $maml, $parameter.Name)
    Write-Paras @(Get-ParameterText $cmdletHelp $parameter.Name $Cmdlet)
    if (-not $isSwitch) {
        $w.WriteStartElement('command', 'parameterValue', $command)
        $w.WriteAttributeString('required', 'true')
        $w.WriteAttributeString('variableLength', ($parameter.ParameterType.IsArray).ToString().ToLowerInvariant())
        $w.WriteString((Get-TypeName $parameter.ParameterType))
        $w.WriteEndElement()
    }
    $validateSet = $parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] }
    if ($validateSet) {
        $w.WriteStartElement('command', 'parameterValueGroup', $command)
        foreach ($value in $validateSet.ValidValues) {
            $w.WriteStartElement('command', 'parameterValue', $command)
            $w.WriteAttributeString('required', 'false')
            $w.WriteAttributeString('variableLength', 'false')
            $w.WriteString($value)
            $w.WriteEndElement()
        }
        $w.WriteEndElement()
    }
    $w.WriteStartElement('dev', 'type', $dev)
    $w.WriteElementString('maml', 'name', $maml, $parameter.ParameterType.FullName)
    $w.WriteEndElement()
    $w.WriteElementString('dev', 'defaultValue', $dev, ($null -ne $Default -and "$Default" -ne '' ? "$Default" : 'None'))
    $w.WriteEndElement()
}

$w.WriteStartDocument()
$w.WriteStartElement('helpItems', 'http://msh')
$w.WriteAttributeString('schema', 'maml')

$cmdlets = Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name
foreach ($cmd in $cmdlets) {
    if (-not $help.ContainsKey($cmd.Name)) { throw "MessengerHelp.psd1 has no entry for $($cmd.Name)" }
    $h = $help[$cmd.Name]
    $instance = [Activator]::CreateInstance($cmd.ImplementingType)
    $defaults = @{}
    foreach ($property in $cmd.ImplementingType.GetProperties()) {
        if ($cmd.Parameters.ContainsKey($property.Name)) {
            $value = $property.GetValue($instance)
            if ($value -is [System.Management.Automation.SwitchParameter]) { $value = $value.IsPresent ? 'True' : 'False' }
            elseif ($value -is [array]) { $value = if ($value.Count) { $value -join ', ' } else { $null } }
            $defaults[$property.Name] = $value
        }
    }
    if ($h.ContainsKey('Defaults')) { foreach ($name in $h.Defaults.Keys) { $defaults[$name] = $h.Defaults[$name] } }

    $w.WriteStartElement('command', 'command', $command)
    $w.WriteAttributeString('xmlns', 'maml', $null, $maml)
    $w.WriteAttributeString('xmlns', 'dev', $null, $dev)
    $w.WriteStartElement('command', 'details', $command)
    $w.WriteElementString('command', 'name', $command, $cmd.Name)
    Write-Paras @($h.Synopsis)
    $w.WriteElementString('command', 'verb', $command, $cmd.Verb)
    $w.WriteElementString('command', 'noun', $command, $cmd.Noun)
    $w.WriteEndElement()
    Write-Paras @($h.Description)

    # Syntax: one item per parameter set, positional parameters first.
    $w.WriteStartElement('command', 'syntax', $command)
    foreach ($set in $cmd.ParameterSets) {
        $w.WriteStartElement('command', 'syntaxItem', $command)
        $w.WriteElementString('maml', 'name', $maml, $cmd.Name)
        $ordered = $set.Parameters | Where-Object Name -notin $common |
            Sort-Object @{ Expression = { if ($_.Position -ge 0) { $_.Position } else { [int]::MaxValue } } }, @{ Expression = { -not $_.IsMandatory } }
        foreach ($p in $ordered) {
            $position = if ($p.Position -ge 0) { "$($p.Position)" } else { 'named' }
            Write-Parameter $p $h $cmd.Name $p.IsMandatory $position $defaults[$p.Name]
        }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    # Parameters: each once, with its position and whether it is mandatory in any set.
    $w.WriteStartElement('command', 'parameters', $command)
    foreach ($parameter in ($cmd.Parameters.Values | Where-Object Name -notin $common | Sort-Object Name)) {
        $inSets = $cmd.ParameterSets | ForEach-Object { $_.Parameters } | Where-Object Name -eq $parameter.Name
        $required = [bool]($inSets | Where-Object IsMandatory)
        $positions = $inSets | Where-Object { $_.Position -ge 0 } | Select-Object -First 1
        $position = if ($positions) { "$($positions.Position)" } else { 'named' }
        $first = $inSets | Select-Object -First 1
        $meta = [pscustomobject]@{
            Name = $parameter.Name; ParameterType = $parameter.ParameterType; Aliases = $parameter.Aliases; Attributes = $parameter.Attributes
            ValueFromPipeline = $first.ValueFromPipeline; ValueFromPipelineByPropertyName = $first.ValueFromPipelineByPropertyName
        }
        Write-Parameter $meta $h $cmd.Name $required $position $defaults[$parameter.Name]
    }
    $w.WriteEndElement()

    foreach ($section in @(@('inputTypes', 'inputType', $h.Inputs), @('returnValues', 'returnValue', $h.Outputs))) {
        $w.WriteStartElement('command', $section[0], $command)
        foreach ($item in $section[2]) {
            $w.WriteStartElement('command', $section[1], $command)
            $w.WriteStartElement('dev', 'type', $dev)
            $w.WriteElementString('maml', 'name', $maml, $item.Type)
            $w.WriteEndElement()
            Write-Paras @($item.Description)
            $w.WriteEndElement()
        }
        $w.WriteEndElement()
    }

    $w.WriteStartElement('maml', 'alertSet', $maml)
    $w.WriteStartElement('maml', 'alert', $maml)
    $notes = @($h.ContainsKey('Notes') ? $h.Notes : @()) + 'Errors carry stable ErrorIds (NodeNotFound, NodeNotSpecified, NodeNameInUse, PeerNotFound, PeerWaitTimeout, ReceiveTimeout, InvalidConfiguration, NodeStopped, MessageTooLarge, InvalidTopic, AckTimeout, NotAcknowledged, HandshakeRefused, SeedIsThisNode, InvalidNodeArgument, InvalidText); catch them by FullyQualifiedErrorId. See about_Messenger.'
    foreach ($n in $notes) { $w.WriteElementString('maml', 'para', $maml, $n) }
    $w.WriteEndElement()
    $w.WriteEndElement()

    $w.WriteStartElement('command', 'examples', $command)
    $i = 0
    foreach ($example in $h.Examples) {
        $i++
        $w.WriteStartElement('command', 'example', $command)
        $w.WriteElementString('maml', 'title', $maml, "--------- Example ${i}: $($example.Title) ---------")
        $w.WriteElementString('dev', 'code', $dev, $example.Code)
        $w.WriteStartElement('dev', 'remarks', $dev)
        $w.WriteElementString('maml', 'para', $maml, $example.Remarks)
        $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    $w.WriteStartElement('command', 'relatedLinks', $command)
    $related = @('about_Messenger') + @($cmdlets.Name | Where-Object { $_ -ne $cmd.Name })
    foreach ($link in $related) {
        $w.WriteStartElement('maml', 'navigationLink', $maml)
        $w.WriteElementString('maml', 'linkText', $maml, $link)
        $w.WriteElementString('maml', 'uri', $maml, '')
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    $w.WriteEndElement()
}

$w.WriteEndElement()
$w.WriteEndDocument()
$w.Dispose()
Write-Host "Help for $($cmdlets.Count) cmdlets written to $full"
