using System.Management.Automation;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Send-MessengerBroadcast: sends messages to every connected peer. Strings travel as text, byte arrays as they
/// are, other objects as JSON. A peer reached by Wait-MessengerPeer before the send receives it.
/// </summary>
[Cmdlet(VerbsCommunications.Send, "MessengerBroadcast")]
[OutputType(typeof(void))]
public sealed class SendMessengerBroadcastCommand : MessengerCmdlet
{
    private MessengerNode? _engine;
    private BodyEncoder? _encoder;

    /// <summary>The message: a string, a byte array, or any object (sent as JSON). Takes pipeline input.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [AllowEmptyString]
    public object Message { get; set; } = null!;

    /// <summary>A topic the receivers can filter on (Receive-MessengerMessage -Topic): 1 to 255 UTF-8 bytes.</summary>
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
        _engine = ResolveNode(Node).Node;
        _encoder = new BodyEncoder(Depth);
    }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var body = _encoder!.Encode(Message, out var contentType);
        try
        {
            var pending = _engine!.BroadcastAsync(body, contentType, Topic, StopToken);
            if (!pending.IsCompletedSuccessfully) Await(pending.AsTask());
        }
        catch (MessageTooLargeException e)
        {
            WriteError(ErrorFactory.FromException(e, _engine!.Name));
        }
        catch (MessengerException e)
        {
            ThrowTerminatingError(ErrorFactory.FromException(e, _engine!.Name));
        }
    }
}
