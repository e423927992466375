using System.Management.Automation;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Stop-MessengerNode: stops nodes of this session (they tell their peers they leave) and forgets them. Takes
/// nodes from the pipeline or -Node, names with wildcards through -Name, or every node with -All; without any,
/// the session's only node.
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "MessengerNode", SupportsShouldProcess = true, DefaultParameterSetName = NodeSet)]
[OutputType(typeof(MessengerNodeInfo))]
public sealed class StopMessengerNodeCommand : MessengerCmdlet
{
    private const string NodeSet = "Node";
    private const string NameSet = "Name";
    private const string AllSet = "All";

    /// <summary>The nodes to stop: node objects or names. Default: the session's only node.</summary>
    [Parameter(ParameterSetName = NodeSet, Position = 0, ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public object[]? Node { get; set; }

    /// <summary>Names of the nodes to stop; wildcards allowed.</summary>
    [Parameter(ParameterSetName = NameSet, Mandatory = true)]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = [];

    /// <summary>Stops every node of the session.</summary>
    [Parameter(ParameterSetName = AllSet, Mandatory = true)]
    public SwitchParameter All { get; set; }

    /// <summary>Outputs each node once it is stopped.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        switch (ParameterSetName)
        {
            case NodeSet:
                // Only a -Node never given means the session's only node: a $null given (a missing property piped
                // in, say) must not stop it.
                if (!MyInvocation.BoundParameters.ContainsKey(nameof(Node)))
                {
                    Stop(ResolveNode(null));
                    break;
                }
                foreach (var item in Node ?? new object?[] { null })
                {
                    var value = item is PSObject pso ? pso.BaseObject : item;
                    switch (value)
                    {
                        case MessengerNodeInfo node:
                            Stop(node);
                            break;
                        case var _ when NodeResolver.AsName(value) is { } name:
                            if (NodeRegistry.TryGet(name, out var found)) Stop(found);
                            else WriteError(ErrorFactory.NodeNotFoundByName(name));
                            break;
                        case var other:
                            // A peer row too: it names the node that sees the peer, which is not the one to stop.
                            WriteError(ErrorFactory.InvalidNode(other));
                            break;
                    }
                }
                break;
            case NameSet:
                foreach (var pattern in Name)
                {
                    var wanted = new NamePattern(pattern);
                    var matches = NodeRegistry.All.Where(n => wanted.IsMatch(n.Name)).ToArray();
                    if (matches.Length == 0 && wanted.IsPlainName)
                    {
                        WriteError(ErrorFactory.NodeNotFoundByName(pattern));
                        continue;
                    }
                    foreach (var node in matches) Stop(node);
                }
                break;
            case AllSet:
                foreach (var node in NodeRegistry.All) Stop(node);
                break;
        }
    }

    private void Stop(MessengerNodeInfo node)
    {
        if (!ShouldProcess($"{node.Name} ({node.Endpoint})", "Stop Messenger node")) return;
        NodeRegistry.Remove(node);
        Await(node.StopAsync());
        WriteVerbose($"Node {node.Name} stopped.");
        if (PassThru) WriteObject(node);
    }
}
