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

    /// <summary>The node whose events to subscribe to: a node object or name, or a peer row. Default: the session's only node.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public object? Node { get; set; }

    /// <inheritdoc/>
    protected override object GetSourceObject()
    {
        var node = Internal.NodeResolver.Resolve(Node, out var error);
        if (node is null) ThrowTerminatingError(error!);
        // A stopped node raises nothing more: subscribing to it is a mistake the script should hear of.
        if (node!.Node.State is not NodeState.Running) ThrowTerminatingError(Internal.ErrorFactory.FromException(new NodeStoppedException(node.Name), node.Name));
        return node;
    }

    /// <inheritdoc/>
    protected override string GetSourceObjectEventName() => EventName;
}
