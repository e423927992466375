using System.Management.Automation;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>Get-MessengerNode: the nodes of this session, by name (wildcards allowed), ordered by name.</summary>
[Cmdlet(VerbsCommon.Get, "MessengerNode")]
[OutputType(typeof(MessengerNodeInfo))]
public sealed class GetMessengerNodeCommand : MessengerCmdlet
{
    /// <summary>Names of the nodes to get; wildcards allowed. Default: every node.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var nodes = NodeRegistry.All;
        if (Name is null)
        {
            WriteObject(nodes, enumerateCollection: true);
            return;
        }
        foreach (var pattern in Name)
        {
            var wanted = new NamePattern(pattern);
            var found = false;
            foreach (var node in nodes)
            {
                if (!wanted.IsMatch(node.Name)) continue;
                found = true;
                WriteObject(node);
            }
            if (!found && wanted.IsPlainName) WriteError(ErrorFactory.NodeNotFoundByName(pattern));
        }
    }
}
