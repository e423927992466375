using System.Management.Automation;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// New-MessengerKeyPair: creates a node identity key pair (Curve25519), optionally saves its private key to a
/// file readable by its owner alone, and outputs it: its PublicKey is what allowlists (-AllowedKey) list, and
/// its NodeId the id a node with this key has.
/// </summary>
[Cmdlet(VerbsCommon.New, "MessengerKeyPair", SupportsShouldProcess = true)]
[OutputType(typeof(MessengerKeyPair))]
public sealed class NewMessengerKeyPairCommand : MessengerCmdlet
{
    /// <summary>A file to save the private key to (mode 0600); it must not exist yet. Start-MessengerNode -KeyPath reads it.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        var pair = MessengerKeyPair.Generate();
        if (Path is not null)
        {
            var path = FileSystemPath(Path, nameof(Path));
            if (!ShouldProcess(path, "Save new Messenger key pair")) return;
            try
            {
                pair.Save(path);
            }
            catch (MessengerException e)
            {
                ThrowTerminatingError(ErrorFactory.FromException(e, path));
            }
            WriteVerbose($"Key pair {pair.PublicKey} saved to {path}.");
        }
        WriteObject(pair);
    }
}
