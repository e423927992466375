using System.Management.Automation;
using System.Runtime.CompilerServices;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Send-MessengerBroadcast: sends messages to every connected peer. Strings travel as text, byte arrays as they
/// are, other objects as JSON. A peer reached by Wait-MessengerPeer before the send receives it. Pipeline input
/// goes to the engine in bursts, as with Send-MessengerMessage.
/// </summary>
[Cmdlet(VerbsCommunications.Send, "MessengerBroadcast")]
[OutputType(typeof(void))]
public sealed class SendMessengerBroadcastCommand : MessengerCmdlet
{
    private MessengerNode? _engine;
    private BodyEncoder? _encoder;
    private SendCoalescer? _coalescer;
    private SendLimit? _limit;

    /// <summary>The message: a string, a byte array, or any object (sent as JSON). Takes pipeline input.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [AllowEmptyString]
    public object Message { get; set; } = null!;

    /// <summary>A topic the receivers can filter on (Receive-MessengerMessage -Topic): 1 to 255 UTF-8 bytes of valid Unicode.</summary>
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
        if (_engine.State != NodeState.Running) ThrowTerminatingError(ErrorFactory.FromException(new NodeStoppedException(node.Name), node.Name));
        ThrowIfInvalidTopic(Topic);
        _limit = new SendLimit(_engine, peers: null);
        _encoder = new BodyEncoder(Depth);
        _coalescer = new SendCoalescer(_engine, target: null, Topic, StopToken);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void ProcessRecord()
    {
        // Messages handed over earlier come first: what the engine refused of them, then this one.
        WriteRefused(_coalescer, _limit!, _engine!.Name);
        var message = Message;
        var value = BodyEncoder.Unwrap(message);
        try
        {
            if (value is string text)
            {
                if (BodyEncoder.LoneSurrogateAt(text) is var at and >= 0)
                {
                    WriteError(ErrorFactory.InvalidTextError(at, _engine!.Name));
                    return;
                }
                if (!_coalescer!.TryAddText(text, _limit!.Bytes, out var size)
                    && !(_limit.Refresh() && _coalescer.TryAddText(text, _limit.Bytes, out size))) WriteError(TooLarge(size));
                WriteRefused(_coalescer, _limit!, _engine!.Name);
                return;
            }
            var body = _encoder!.Encode(message, value, _limit!.Bytes, out var contentType);
            if (body.Length > _limit.Bytes && _limit.Refresh()) body = _encoder.Encode(message, value, _limit.Bytes, out contentType);
            if (body.Length > _limit.Bytes)
            {
                WriteError(_limit.TooLargeError(body.Length, contentType, _engine!.Name));
                return;
            }
            _coalescer!.Add(body.Span, contentType);
        }
        catch (Exception e) when (e is MessengerException or OperationCanceledException)
        {
            ThrowForSendFailure(e, _engine!.Name);
            throw;
        }
        WriteRefused(_coalescer, _limit!, _engine!.Name);
    }

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        try
        {
            _coalescer!.Flush();
        }
        catch (Exception e) when (e is MessengerException or OperationCanceledException)
        {
            ThrowForSendFailure(e, _engine!.Name);
            throw;
        }
        WriteRefused(_coalescer, _limit!, _engine!.Name);
    }

    private ErrorRecord TooLarge(int size) => ErrorFactory.FromException(_limit!.TooLarge(size), _engine!.Name);


    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _coalescer?.Dispose();
        base.Dispose(disposing);
    }
}
