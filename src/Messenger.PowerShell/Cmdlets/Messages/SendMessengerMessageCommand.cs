using System.Management.Automation;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Send-MessengerMessage: sends messages to one peer (or a few). Strings travel as text, byte arrays as they are,
/// other objects as JSON. Messages from the pipeline are sent as a stream: the node and peers are resolved once,
/// and each message costs little more than an enqueue.
/// </summary>
[Cmdlet(VerbsCommunications.Send, "MessengerMessage")]
[OutputType(typeof(void))]
public sealed class SendMessengerMessageCommand : MessengerCmdlet
{
    private MessengerNode? _engine;
    private BodyEncoder? _encoder;

    /// <summary>The peers to send to (exact names).</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ArgumentCompleter(typeof(PeerNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] To { get; set; } = [];

    /// <summary>The message: a string, a byte array, or any object (sent as JSON). Takes pipeline input.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
    [AllowEmptyString]
    public object Message { get; set; } = null!;

    /// <summary>A topic the receiver can filter on (Receive-MessengerMessage -Topic): 1 to 255 UTF-8 bytes.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Topic { get; set; }

    /// <summary>How many levels of an object are written to JSON before deeper values become strings. Default 10.</summary>
    [Parameter]
    [ValidateRange(1, 100)]
    public int Depth { get; set; } = 10;

    /// <summary>The node that sends: a node object or name. Default: the session's only node.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public object? Node { get; set; }

    /// <inheritdoc/>
    protected override void BeginProcessing()
    {
        var node = ResolveNode(Node);
        _engine = node.Node;
        _encoder = new BodyEncoder(Depth);
        foreach (var to in To)
        {
            if (_engine.GetPeer(to) is null) ThrowTerminatingError(ErrorFactory.PeerNotFound(node.Name, to));
        }
    }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var body = _encoder!.Encode(Message, out var contentType);
        var targets = To;
        for (var i = 0; i < targets.Length; i++)
        {
            try
            {
                var pending = _engine!.SendAsync(targets[i], body, contentType, Topic, StopToken);
                if (!pending.IsCompletedSuccessfully) Await(pending.AsTask());
            }
            catch (MessageTooLargeException e)
            {
                WriteError(ErrorFactory.FromException(e, targets[i]));
                return;
            }
            catch (MessengerException e)
            {
                // PeerNotFound (the peer left), NodeStopped, InvalidTopic: no later message could go either.
                ThrowTerminatingError(ErrorFactory.FromException(e, targets[i]));
            }
        }
    }
}
