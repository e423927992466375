using System.Management.Automation;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Connect-MessengerPeer: joins through a known endpoint (tcp://host:port of a node's unicast socket), like a
/// seed given at start, waits until the node there is connected, and outputs it as a peer.
/// </summary>
[Cmdlet(VerbsCommunications.Connect, "MessengerPeer", SupportsShouldProcess = true)]
[OutputType(typeof(MessengerPeerInfo))]
public sealed class ConnectMessengerPeerCommand : MessengerCmdlet
{
    /// <summary>The endpoints to join through, tcp://host:port; by value or by property name (Endpoint) from the pipeline.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Endpoint { get; set; } = [];

    /// <summary>Seconds to wait for each peer to become connected (default 10); -1 waits until Ctrl+C.</summary>
    [Parameter]
    [ValidateTimeout]
    public double Timeout { get; set; } = 10;

    /// <summary>The node that connects: a node object or name. Default: the session's only node.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public object? Node { get; set; }

    private MessengerNodeInfo? _node;

    /// <inheritdoc/>
    protected override void BeginProcessing() => _node = ResolveNode(Node);

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var node = _node!;
        foreach (var endpoint in Endpoint)
        {
            if (!ShouldProcess(endpoint, $"Connect node {node.Name}")) continue;
            try
            {
                var peer = Await(node.Node.ConnectAsync(endpoint, Seconds(Timeout), StopToken));
                WriteObject(new MessengerPeerInfo(node.Name, peer));
            }
            catch (NodeStoppedException e)
            {
                ThrowTerminatingError(ErrorFactory.FromException(e, node.Name));
            }
            catch (MessengerException e)
            {
                WriteError(ErrorFactory.FromException(e, endpoint));
            }
        }
    }
}
