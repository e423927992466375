using System.Management.Automation;
using System.Runtime.CompilerServices;
using System.Text;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Send-MessengerMessage: sends messages to one peer (or a few). Strings travel as text, byte arrays as they are,
/// other objects as JSON. Messages from the pipeline are sent as a stream: the node and peers are resolved once,
/// and messages go to the engine in bursts (see <see cref="SendCoalescer"/>), so that each costs the pipeline
/// little more than an enqueue; a lone message goes at once, a burst after a millisecond or so (two if the input
/// pauses), and the last one when the pipeline ends. Each peer of -To has a stream of its own, with its own limit on
/// the body's size: a message too large for one of them still goes to the others.
/// </summary>
[Cmdlet(VerbsCommunications.Send, "MessengerMessage")]
[OutputType(typeof(void))]
public sealed class SendMessengerMessageCommand : MessengerCmdlet
{
    private MessengerNode? _engine;
    private BodyEncoder? _encoder;
    private PeerStream[] _streams = [];
    private bool _waitForAck;

    // The node's own MaxMessageSize, over which a body is too large for every peer: one error, not one per peer.
    private SendLimit? _ownLimit;
    private string _allTargets = "";

    /// <summary>One receiving peer: the limit on what it accepts, and (unless each message waits for its
    /// acknowledgement) the bursts that go to it.</summary>
    private sealed record PeerStream(string Name, SendLimit Limit, SendCoalescer? Coalescer);

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
        _waitForAck = WaitForAck.IsPresent;
        _encoder = new BodyEncoder(Depth);
        _streams = [.. To.Select(to =>
            new PeerStream(to, new SendLimit(_engine, [to]), _waitForAck ? null : new SendCoalescer(_engine, to, Topic, StopToken)))];
        _ownLimit = new SendLimit(_engine, []);
        _allTargets = string.Join(",", To);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void ProcessRecord()
    {
        var message = Message;
        var value = BodyEncoder.Unwrap(message);
        if (value is string invalid && BodyEncoder.LoneSurrogateAt(invalid) is var at and >= 0)
        {
            // Messages handed over earlier come first: what the engine refused of them, then this one.
            foreach (var stream in _streams) WriteRefused(stream.Coalescer, stream.Limit, null);
            WriteError(ErrorFactory.InvalidTextError(at, _allTargets));
            return;
        }
        if (!_waitForAck && value is string text)
        {
            if (_streams.Length > 1 && Encoding.UTF8.GetMaxByteCount(text.Length) > _ownLimit!.Bytes && Encoding.UTF8.GetByteCount(text) is var size && size > _ownLimit.Bytes)
            {
                WriteError(ErrorFactory.FromException(_ownLimit.TooLarge(size), _allTargets));
                return;
            }
            // The common case: the string is encoded straight into each burst, no copy in between.
            foreach (var stream in _streams) AddText(stream, text);
            return;
        }

        // Encoded once, for the largest limit among the peers (a JSON body is cut short past it).
        var limit = 0;
        foreach (var stream in _streams) limit = Math.Max(limit, stream.Limit.Bytes);
        var body = _encoder!.Encode(message, value, limit, out var contentType);
        if (_streams.Length > 1 && body.Length > _ownLimit!.Bytes)
        {
            WriteError(_ownLimit.TooLargeError(body.Length, contentType, _allTargets));
            return;
        }
        foreach (var stream in _streams)
        {
            // Messages handed over earlier come first: what the engine refused of them, then this one.
            WriteRefused(stream.Coalescer, stream.Limit, null);
            if (body.Length > stream.Limit.Bytes && stream.Limit.Refresh() && stream.Limit.Bytes > limit)
            {
                limit = stream.Limit.Bytes;
                body = _encoder.Encode(message, value, limit, out contentType);
            }
            if (body.Length > stream.Limit.Bytes)
            {
                WriteError(stream.Limit.TooLargeError(body.Length, contentType, stream.Name));
                continue;
            }
            if (_waitForAck)
            {
                SendAcknowledged(stream.Name, body, contentType);
                continue;
            }
            try
            {
                stream.Coalescer!.Add(body.Span, contentType);
            }
            catch (Exception e) when (e is MessengerException or OperationCanceledException)
            {
                ThrowForSendFailure(e, stream.Name);
                throw;
            }
            WriteRefused(stream.Coalescer, stream.Limit, null);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddText(PeerStream stream, string text)
    {
        WriteRefused(stream.Coalescer, stream.Limit, null);
        bool queued;
        int size;
        try
        {
            queued = stream.Coalescer!.TryAddText(text, stream.Limit.Bytes, out size)
                || (stream.Limit.Refresh() && stream.Coalescer.TryAddText(text, stream.Limit.Bytes, out size));
        }
        catch (Exception e) when (e is MessengerException or OperationCanceledException)
        {
            // PeerNotFound (the peer left), NodeStopped: no later message could go either.
            ThrowForSendFailure(e, stream.Name);
            throw;
        }
        if (!queued) WriteError(ErrorFactory.FromException(stream.Limit.TooLarge(size), stream.Name));
        WriteRefused(stream.Coalescer, stream.Limit, null);
    }

    private void SendAcknowledged(string to, ReadOnlyMemory<byte> body, MessageContentType contentType)
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

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        foreach (var stream in _streams)
        {
            try
            {
                stream.Coalescer?.Flush();
            }
            catch (Exception e) when (e is MessengerException or OperationCanceledException)
            {
                ThrowForSendFailure(e, stream.Name);
                throw;
            }
            WriteRefused(stream.Coalescer, stream.Limit, null);
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) foreach (var stream in _streams) stream.Coalescer?.Dispose();
        base.Dispose(disposing);
    }
}
