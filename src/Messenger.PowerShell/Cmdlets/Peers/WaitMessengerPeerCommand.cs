using System.Management.Automation;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Wait-MessengerPeer: blocks until the named peers (or a number of peers) are connected, which means a
/// broadcast sent afterwards reaches them; fails with PeerWaitTimeout, naming who is missing, when -Timeout passes.
/// </summary>
[Cmdlet(VerbsLifecycle.Wait, "MessengerPeer", DefaultParameterSetName = NameSet)]
[OutputType(typeof(MessengerPeerInfo))]
public sealed class WaitMessengerPeerCommand : MessengerCmdlet
{
    private const string NameSet = "Name";
    private const string CountSet = "Count";

    /// <summary>The peers to wait for (exact names).</summary>
    [Parameter(ParameterSetName = NameSet, Mandatory = true, Position = 0)]
    [ArgumentCompleter(typeof(PeerNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = [];

    /// <summary>How many peers must be connected.</summary>
    [Parameter(ParameterSetName = CountSet, Mandatory = true)]
    [ValidateRange(0, int.MaxValue)]
    public int Count { get; set; }

    /// <summary>Seconds to wait at most (default 30); -1 waits until Ctrl+C.</summary>
    [Parameter]
    [ValidateTimeout]
    public double Timeout { get; set; } = 30;

    /// <summary>The node that waits: a node object or name. Default: the session's only node.</summary>
    [Parameter(ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public object? Node { get; set; }

    /// <summary>Outputs the awaited peers (with -Count, every connected peer) once they are connected.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var node = ResolveNode(Node);
        var timeout = Seconds(Timeout);
        try
        {
            Await(ParameterSetName == CountSet
                ? node.Node.WaitForPeerCountAsync(Count, timeout, StopToken)
                : node.Node.WaitForPeersAsync(Name, timeout, StopToken));
        }
        catch (MessengerException e)
        {
            ThrowTerminatingError(ErrorFactory.FromException(e, node.Name));
        }
        WriteVerbose($"Node {node.Name}: {node.PeerCount} peers connected.");
        if (!PassThru) return;
        foreach (var peer in node.Node.GetPeers())
        {
            var wanted = ParameterSetName == CountSet ? peer.State == PeerState.Connected : Array.IndexOf(Name, peer.Name) >= 0;
            if (wanted) WriteObject(new MessengerPeerInfo(node.Name, peer));
        }
    }
}
