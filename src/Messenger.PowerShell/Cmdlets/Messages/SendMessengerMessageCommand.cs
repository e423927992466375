using System.Management.Automation;
using System.Runtime.CompilerServices;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Send-MessengerMessage: sends messages to one peer (or a few). Strings travel as text, byte arrays as they are,
/// other objects as JSON. Messages from the pipeline are sent as a stream: the node and peers are resolved once,
/// and messages go to the engine in bursts (see <see cref="SendCoalescer"/>), so that each costs the pipeline
/// little more than an enqueue; a lone message goes at once, a burst after a millisecond or so (two if the input
/// pauses), and the last one when the pipeline ends.
/// </summary>
[Cmdlet(VerbsCommunications.Send, "MessengerMessage")]
[OutputType(typeof(void))]
public sealed class SendMessengerMessageCommand : MessengerCmdlet
{
    private MessengerNode? _engine;
    private BodyEncoder? _encoder;
    private SendCoalescer? _coalescer;
    private string[] _targets = [];
    private string _target = "";
    private SendLimit? _limit;
    private bool _waitForAck;

    /// <summary>The peers to send to (exact names).</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ArgumentCompleter(typeof(PeerNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] To { get; set; } = [];

    /// <summary>The message: a string, a byte array, or any object (sent as JSON). Takes pipeline input.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
    [AllowEmptyString]
    public object Message { get; set; } = null!;

    /// <summary>A topic the receiver can filter on (Receive-MessengerMessage -Topic): 1 to 255 UTF-8 bytes of valid Unicode.</summary>
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

    /// <summary>Each message returns only once the peer's node has accepted it; a message it did not acknowledge
    /// in time (AckTimeout) or before it went away (NotAcknowledged) is reported and the stream goes on.</summary>
    [Parameter]
    public SwitchParameter WaitForAck { get; set; }

    /// <inheritdoc/>
    protected override void BeginProcessing()
    {
        var node = ResolveNode(Node);
        _engine = node.Node;
        if (_engine.State != NodeState.Running) ThrowTerminatingError(ErrorFactory.FromException(new NodeStoppedException(node.Name), node.Name));
        ThrowIfInvalidTopic(Topic);
        foreach (var to in To)
        {
            if (_engine.GetPeer(to) is null) ThrowTerminatingError(ErrorFactory.PeerNotFound(node.Name, to));
        }
        // Everything a message needs is settled here, once: ProcessRecord runs per pipeline object.
        _targets = To;
        _target = To.Length == 1 ? To[0] : string.Join(",", To);
        _limit = new SendLimit(_engine, To);
        _waitForAck = WaitForAck.IsPresent;
        _encoder = new BodyEncoder(Depth);
        if (!_waitForAck) _coalescer = new SendCoalescer(_engine, _targets, Topic, StopToken);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void ProcessRecord()
    {
        // Messages handed over earlier come first: what the engine refused of them, then this one.
        WriteRefused(_coalescer, _limit!, null);
        var message = Message;
        var value = BodyEncoder.Unwrap(message);
        if (!_waitForAck && value is string text)
        {
            // The common case: the string is encoded straight into the burst, no copy in between.
            bool queued;
            int size;
            try
            {
                queued = _coalescer!.TryAddText(text, _limit!.Bytes, out size)
                    || (_limit.Refresh() && _coalescer.TryAddText(text, _limit.Bytes, out size));
            }
            catch (Exception e) when (e is MessengerException or OperationCanceledException)
            {
                // PeerNotFound (the peer left), NodeStopped: no later message could go either.
                ThrowForSendFailure(e, _target);
                throw;
            }
            if (!queued) WriteError(ErrorFactory.FromException(_limit.TooLarge(size), _target));
            WriteRefused(_coalescer, _limit!, null);
            return;
        }

        var body = _encoder!.Encode(message, value, _limit!.Bytes, out var contentType);
        if (body.Length > _limit.Bytes && _limit.Refresh()) body = _encoder.Encode(message, value, _limit.Bytes, out contentType);
        if (body.Length > _limit.Bytes)
        {
            WriteError(_limit.TooLargeError(body.Length, contentType, _target));
            return;
        }
        if (_waitForAck)
        {
            SendAcknowledged(body, contentType);
            return;
        }
        try
        {
            _coalescer!.Add(body.Span, contentType);
        }
        catch (Exception e) when (e is MessengerException or OperationCanceledException)
        {
            ThrowForSendFailure(e, _target);
            throw;
        }
        WriteRefused(_coalescer, _limit!, null);
    }


    private void SendAcknowledged(ReadOnlyMemory<byte> body, MessageContentType contentType)
    {
        foreach (var to in _targets)
        {
            try
            {
                _engine!.SendAsync(to, body, contentType, Topic, requireAck: true, StopToken).GetAwaiter().GetResult();
            }
            catch (MessengerException e) when (e.ErrorId is "AckTimeout" or "NotAcknowledged" or "MessageTooLarge")
            {
                WriteError(ErrorFactory.FromException(e, to));
            }
            catch (Exception e) when (e is MessengerException or OperationCanceledException)
            {
                ThrowForSendFailure(e, to);
                throw;
            }
        }
    }

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        try
        {
            _coalescer?.Flush();
        }
        catch (Exception e) when (e is MessengerException or OperationCanceledException)
        {
            ThrowForSendFailure(e, _target);
            throw;
        }
        WriteRefused(_coalescer, _limit!, null);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _coalescer?.Dispose();
        base.Dispose(disposing);
    }
}
