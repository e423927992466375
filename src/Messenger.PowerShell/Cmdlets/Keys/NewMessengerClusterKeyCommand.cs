using System.Management.Automation;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// New-MessengerClusterKey: creates a random cluster key (the secret every member of a secure cluster holds),
/// optionally saves it to a file readable by its owner alone, and outputs it. The key object shows only its
/// fingerprint; -AsPlainText outputs the base64 text instead, for a CI secret store.
/// </summary>
[Cmdlet(VerbsCommon.New, "MessengerClusterKey", SupportsShouldProcess = true)]
[OutputType(typeof(ClusterKey), typeof(string))]
public sealed class NewMessengerClusterKeyCommand : MessengerCmdlet
{
    /// <summary>A file to save the key to (mode 0600); it must not exist yet.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Outputs the key as base64 text rather than as a key object. Treat the text as a password.</summary>
    [Parameter]
    public SwitchParameter AsPlainText { get; set; }

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        var key = ClusterKey.Generate();
        if (Path is not null)
        {
            var path = FileSystemPath(Path, nameof(Path));
            if (!ShouldProcess(path, "Save new Messenger cluster key")) return;
            try
            {
                key.Save(path);
            }
            catch (MessengerException e)
            {
                ThrowTerminatingError(ErrorFactory.FromException(e, path));
            }
            WriteVerbose($"Cluster key {key.Fingerprint} saved to {path}.");
        }
        WriteObject(AsPlainText ? key.ToBase64() : key);
    }
}
