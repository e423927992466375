using System.Management.Automation;
using System.Runtime.CompilerServices;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Receive-MessengerMessage: outputs received messages as objects, in arrival order. Without -Count or -Timeout
/// it outputs what is waiting and returns; with -Count it waits (30 s by default) until that many arrived; with
/// -Timeout it waits that long. Messages that -From, -Topic or -Kind filter out stay for later receives.
/// Ctrl+C stops it cleanly. It takes messages off the node's queue thousands at a time and outputs objects that
/// decode their body only when it is read; a pipeline that stops early (Select-Object -First) loses nothing.
/// While MessageReceived has subscribers (Register-MessengerEvent), the messages are theirs: it waits for them to
/// leave rather than split the stream with them.
/// </summary>
[Cmdlet(VerbsCommunications.Receive, "MessengerMessage")]
[OutputType(typeof(MessengerReceivedMessage))]
public sealed class ReceiveMessengerMessageCommand : MessengerCmdlet
{
    private const double DefaultCountTimeout = 30;

    // Messages taken off the node's queue at once: enough to make each take cheap, few enough that a receive
    // stopped half way (Select-Object -First, Ctrl+C) has little to put back.
    private const int BatchSize = 4096;

    /// <summary>Stop after this many messages.</summary>
    [Parameter(Position = 0)]
    [ValidateRange(1, int.MaxValue)]
    public int Count { get; set; }

    /// <summary>Seconds to wait for messages: without -Count, the time to listen; with -Count, the most to wait for
    /// them (default 30). -1 waits until Ctrl+C. Default without -Count: 0, only what is waiting.</summary>
    [Parameter]
    [ValidateTimeout]
    public double Timeout { get; set; }

    /// <summary>Only messages from these peers; wildcards allowed.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(PeerNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? From { get; set; }

    /// <summary>Only messages with these topics; wildcards allowed.</summary>
    [Parameter]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Topic { get; set; }

    /// <summary>Only unicast or only broadcast messages.</summary>
    [Parameter]
    public MessageKind? Kind { get; set; }

    /// <summary>The node that receives: a node object or name. Default: the session's only node.</summary>
    [Parameter(ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(NodeNameCompleter))]
    public object? Node { get; set; }

    private Func<MessengerMessage, bool>? _match;
    private List<MessengerMessage>? _batch;
    private readonly List<long> _stashPlaces = [];

    /// <inheritdoc/>
    protected override void BeginProcessing() => _match = BuildFilter();

    // The drain loop runs once or twice a session and then for a million messages: compiled optimized at once, not
    // left to tiered compilation (tier 0, then on-stack replacement).
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void ProcessRecord()
    {
        var node = ResolveNode(Node);
        var engine = node.Node;
        var wanted = Count > 0 ? Count : int.MaxValue;
        var timeout = MyInvocation.BoundParameters.ContainsKey(nameof(Timeout)) ? Seconds(Timeout)
            : Count > 0 ? TimeSpan.FromSeconds(DefaultCountTimeout)
            : TimeSpan.Zero;
        var received = 0;
        var batch = _batch ??= new List<MessengerMessage>(BatchSize);

        using var deadline = timeout == TimeSpan.Zero || timeout == System.Threading.Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(timeout);
        using var linked = deadline is null ? null : CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, StopToken);
        var waitToken = linked?.Token ?? StopToken;
        var stopped = false;

        try
        {
            received += OutputStashed(node, batch, wanted - received);
            while (received < wanted)
            {
                batch.Clear();
                if (node.EventsTakeMessages)
                {
                    // MessageReceived subscribers get every message meanwhile: wait for them to leave, or for the
                    // node to stop, after which nothing more comes.
                    if (timeout == TimeSpan.Zero) break;
                    WriteVerbose($"Node {node.Name}: MessageReceived subscribers take the messages; waiting for them to unsubscribe.");
                    if (!Wait(Task.WhenAny(node.EventsReleased, node.DeliveryEnded).WaitAsync(waitToken), deadline)) break;
                    if (node.EventsTakeMessages && node.DeliveryEnded.IsCompleted)
                    {
                        stopped = true;
                        break;
                    }
                    if (!node.EventsTakeMessages)
                    {
                        // The subscribers left. What their delivery had taken off the queue and not handed to them
                        // went to the stash, and is older than anything in the queue: first that delivery ends,
                        // then the stash comes first.
                        if (!Wait(node.DeliveryEnded.WaitAsync(waitToken), deadline)) break;
                        received += OutputStashed(node, batch, wanted - received);
                    }
                    continue;
                }
                // Unfiltered, it never takes more than it outputs; filtered, what it takes beyond -Count is stashed.
                var take = _match is null ? Math.Min(wanted - received, BatchSize) : BatchSize;
                if (engine.TryReadMany(batch, take) > 0)
                {
                    received += Output(node, batch, wanted - received, stashPlaces: null);
                    continue;
                }
                if (timeout == TimeSpan.Zero) break;
                var ready = engine.WaitToReadAsync(waitToken);
                bool more;
                if (ready.IsCompletedSuccessfully)
                {
                    more = ready.Result;
                }
                else
                {
                    var waiting = ready.AsTask();
                    if (!Wait(waiting, deadline)) break;
                    more = waiting.Result;
                }
                if (!more)
                {
                    stopped = true; // the node stopped and every message it received has been read
                    break;
                }
            }
        }
        finally
        {
            batch.Clear();
        }

        var dropped = node.TakeStashDropped();
        if (dropped > 0) WriteWarning($"Node {node.Name} dropped {dropped} filtered-out messages kept for later receives: more than its receive queue capacity were waiting.");
        // A receive that would have waited for more, and ended because the node stopped, says so: also one with
        // -Timeout alone, which a script may call in a loop that would otherwise go on quietly against a stopped node.
        if (stopped) WriteError(ErrorFactory.FromException(new NodeStoppedException(node.Name), node.Name));
        else if (Count > 0 && received < Count) WriteError(ErrorFactory.ReceiveTimeoutError(node.Name, received, Count, timeout));
    }

    /// <summary>
    /// Outputs up to <paramref name="limit"/> of the messages the filter accepts and stashes the others for later
    /// receives; returns how many it output. What is left after the limit, or when the pipeline stops part way
    /// (Select-Object -First, Ctrl+C), goes back to the stash, in order, so that no message taken off the queue
    /// is lost. <paramref name="stashPlaces"/>: the messages came from the stash, and go back to their places there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Output(MessengerNodeInfo node, List<MessengerMessage> messages, int limit, List<long>? stashPlaces)
    {
        var match = _match;
        var written = 0;
        var next = 0;
        try
        {
            while (next < messages.Count && written < limit)
            {
                var message = messages[next];
                if (match is null || match(message))
                {
                    try
                    {
                        // WriteObject checks for a stopping pipeline itself, before it hands the object on: a
                        // check of our own per message cost a tenth of the pipeline thread.
                        WriteObject(new MessengerReceivedMessage(message));
                    }
                    catch (PipelineStoppedException) when (Stopping)
                    {
                        // Ctrl+C: not handed over (or handed to a command that was being stopped): it stays.
                        throw;
                    }
                    catch
                    {
                        // Thrown downstream after it took the message (Select-Object -First): handed over.
                        next++;
                        throw;
                    }
                    next++;
                    written++;
                }
                else
                {
                    next++;
                    node.Stash(message);
                }
            }
        }
        finally
        {
            if (stashPlaces is not null) node.PutBack(messages, stashPlaces, next);
            else node.Stash(messages, next);
        }
        return written;
    }

    /// <summary>Outputs up to <paramref name="limit"/> stashed messages the filter accepts; returns how many.</summary>
    private int OutputStashed(MessengerNodeInfo node, List<MessengerMessage> batch, int limit)
    {
        if (!node.HasStash || limit <= 0) return 0;
        batch.Clear();
        batch.AddRange(node.TakeStashed(_match, limit, _stashPlaces));
        return Output(node, batch, limit, _stashPlaces);
    }

    /// <summary>Blocks until <paramref name="task"/> (which the wait token cancels) completes: true; or until
    /// the deadline: false. Ctrl+C stops the pipeline.</summary>
    private bool Wait(Task task, CancellationTokenSource? deadline)
    {
        try
        {
            Await(task);
            return true;
        }
        catch (OperationCanceledException) when (deadline?.IsCancellationRequested == true)
        {
            return false;
        }
    }

    private Func<MessengerMessage, bool>? BuildFilter()
    {
        var from = From?.Select(f => new NamePattern(f)).ToArray();
        var topics = Topic?.Select(t => new NamePattern(t)).ToArray();
        var kind = Kind;
        if (from is null && topics is null && kind is null) return null;
        return m =>
            (kind is null || m.Kind == kind)
            && (from is null || Array.Exists(from, p => p.IsMatch(m.From)))
            && (topics is null || (m.Topic is not null && Array.Exists(topics, p => p.IsMatch(m.Topic))));
    }
}
