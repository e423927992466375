using System.Management.Automation;
using Microsoft.PowerShell.Commands;
using Messenger.PowerShell.Completion;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Register-MessengerEvent: subscribes to a node's events (PeerJoined, PeerUnreachable, PeerLeft,
/// MessageReceived, MessageDropped, ActorRestarted, Faulted) for -Action blocks, Wait-Event and Get-Event. $Event.SourceEventArgs holds
/// the peer or the message. While a MessageReceived subscription exists, received messages go to it instead of
/// waiting for Receive-MessengerMessage.
/// </summary>
[Cmdlet(VerbsLifecycle.Register, "MessengerEvent")]
[OutputType(typeof(PSEventJob))]
public sealed class RegisterMessengerEventCommand : ObjectEventRegistrationBase
{
    /// <summary>The event: PeerJoined, PeerUnreachable, PeerLeft, MessageReceived, MessageDropped, ActorRestarted or Faulted.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateSet("PeerJoined", "PeerUnreachable", "PeerLeft", "MessageReceived", "MessageDropped", "ActorRestarted", "Faulted")]
    public string EventName { get; set; } = string.Empty;

    /// <summary>The node whose events to subscribe to: a node object or name. Default: the session's only node.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public object? Node { get; set; }

    /// <inheritdoc/>
    protected override object GetSourceObject()
    {
        var node = Node is PSObject pso ? pso.BaseObject : Node;
        switch (node)
        {
            case MessengerNodeInfo info:
                return info;
            case null:
                var all = Internal.NodeRegistry.All;
                if (all.Length == 1) return all[0];
                ThrowTerminatingError(all.Length == 0 ? Internal.ErrorFactory.NoNodes() : Internal.ErrorFactory.NodeNotSpecifiedError(all));
                return null!;
            case string name:
                if (Internal.NodeRegistry.TryGet(name, out var found)) return found;
                ThrowTerminatingError(Internal.ErrorFactory.NodeNotFoundByName(name));
                return null!;
            default:
                ThrowTerminatingError(Internal.ErrorFactory.InvalidNode(node));
                return null!;
        }
    }

    /// <inheritdoc/>
    protected override string GetSourceObjectEventName() => EventName;
}
