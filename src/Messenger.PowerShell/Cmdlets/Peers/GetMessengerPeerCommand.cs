using System.Management.Automation;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>Get-MessengerPeer: a node's peer table (name, id, address, state, last seen, round trip), filtered by
/// name (wildcards allowed) and state.</summary>
[Cmdlet(VerbsCommon.Get, "MessengerPeer")]
[OutputType(typeof(MessengerPeerInfo))]
public sealed class GetMessengerPeerCommand : MessengerCmdlet
{
    /// <summary>Names of the peers to get; wildcards allowed. Default: every peer.</summary>
    [Parameter(Position = 0)]
    [ArgumentCompleter(typeof(PeerNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    /// <summary>Only peers in these states (Joining, Connected, Unreachable).</summary>
    [Parameter]
    public PeerState[]? State { get; set; }

    /// <summary>The node whose peer table to read: a node object or name. Default: the session's only node.</summary>
    [Parameter(ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public object? Node { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var node = ResolveNode(Node);
        if (node.Node.State is NodeState.Stopped or NodeState.Faulted)
        {
            // A stopped node has no peers to show: say so, rather than an empty table that reads as "no peers yet".
            WriteError(ErrorFactory.FromException(new NodeStoppedException(node.Name), node.Name));
            return;
        }
        var patterns = Name?.Select(n => new NamePattern(n)).ToArray() ?? [];
        var found = new bool[patterns.Length];
        foreach (var peer in node.Node.GetPeers())
        {
            var match = patterns.Length == 0;
            for (var i = 0; i < patterns.Length; i++)
            {
                if (!patterns[i].IsMatch(peer.Name)) continue;
                found[i] = true;
                match = true;
            }
            if (!match) continue;
            if (State is not null && Array.IndexOf(State, peer.State) < 0) continue;
            WriteObject(new MessengerPeerInfo(node.Name, peer));
        }
        for (var i = 0; i < patterns.Length; i++)
        {
            if (!found[i] && patterns[i].IsPlainName) WriteError(ErrorFactory.PeerNotFound(node.Name, Name![i]));
        }
    }
}
