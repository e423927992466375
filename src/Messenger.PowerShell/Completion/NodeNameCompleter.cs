using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Completion;

/// <summary>Completes -Node (and Get-MessengerNode -Name) with the names of this session's nodes.</summary>
public sealed class NodeNameCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = CompletionText.Unquote(wordToComplete);
        foreach (var node in NodeRegistry.All)
        {
            if (!node.Name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) continue;
            yield return new CompletionResult(
                CompletionText.Quote(node.Name, wordToComplete),
                node.Name,
                CompletionResultType.ParameterValue,
                $"{node.Name} ({node.State}) {node.Endpoint}, {node.PeerCount} peers connected");
        }
    }
}
