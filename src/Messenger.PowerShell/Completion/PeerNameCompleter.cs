using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Completion;

/// <summary>Completes peer names (-To, -From, -Name of the peer cmdlets) from the live peer table of the node
/// given with -Node, or of every node of the session when none is given.</summary>
public sealed class PeerNameCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = CompletionText.Unquote(wordToComplete);
        var peers = new SortedDictionary<string, CompletionResult>(StringComparer.Ordinal);
        foreach (var node in NodesOf(fakeBoundParameters))
        {
            foreach (var peer in node.Node.GetPeers())
            {
                if (!peer.Name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || peers.ContainsKey(peer.Name)) continue;
                peers[peer.Name] = new CompletionResult(
                    CompletionText.Quote(peer.Name, wordToComplete),
                    peer.Name,
                    CompletionResultType.ParameterValue,
                    $"{peer.Name} ({peer.State}) {peer.Endpoint}, seen by {node.Name}");
            }
        }
        return peers.Values;
    }

    private static IEnumerable<MessengerNodeInfo> NodesOf(IDictionary? bound)
    {
        var value = bound is not null && bound.Contains("Node") ? bound["Node"] : null;
        if (value is PSObject pso) value = pso.BaseObject;
        return value switch
        {
            MessengerNodeInfo node => [node],
            string name when NodeRegistry.TryGet(name, out var named) => [named],
            _ => NodeRegistry.All,
        };
    }
}
