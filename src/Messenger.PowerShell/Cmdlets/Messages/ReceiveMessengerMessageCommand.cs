using System.Management.Automation;
using Messenger.PowerShell.Completion;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// Receive-MessengerMessage: outputs received messages as objects, in arrival order. Without -Count or -Timeout
/// it outputs what is waiting and returns; with -Count it waits (30 s by default) until that many arrived; with
/// -Timeout it waits that long. Messages that -From, -Topic or -Kind filter out stay for later receives.
/// Ctrl+C stops it cleanly.
/// </summary>
[Cmdlet(VerbsCommunications.Receive, "MessengerMessage")]
[OutputType(typeof(MessengerReceivedMessage))]
public sealed class ReceiveMessengerMessageCommand : MessengerCmdlet
{
    private const double DefaultCountTimeout = 30;

    /// <summary>Stop after this many messages.</summary>
    [Parameter(Position = 0)]
    [ValidateRange(1, int.MaxValue)]
    public int Count { get; set; }

    /// <summary>Seconds to wait for messages: without -Count, the time to listen; with -Count, the most to wait for
    /// them (default 30). -1 waits until Ctrl+C. Default without -Count: 0, only what is waiting.</summary>
    [Parameter]
    [ValidateRange(-1, double.MaxValue)]
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

    /// <inheritdoc/>
    protected override void BeginProcessing() => _match = BuildFilter();

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var node = ResolveNode(Node);
        var engine = node.Node;
        var wanted = Count > 0 ? Count : int.MaxValue;
        var timeout = MyInvocation.BoundParameters.ContainsKey(nameof(Timeout)) ? Seconds(Timeout)
            : Count > 0 ? TimeSpan.FromSeconds(DefaultCountTimeout)
            : TimeSpan.Zero;
        var match = _match;
        var received = 0;

        if (node.HasStash)
        {
            foreach (var message in node.TakeStashed(match, wanted))
            {
                WriteObject(new MessengerReceivedMessage(message));
                received++;
            }
        }

        using var deadline = timeout == TimeSpan.Zero || timeout == System.Threading.Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(timeout);
        using var linked = deadline is null ? null : CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, StopToken);
        var waitToken = linked?.Token ?? StopToken;
        var stopped = false;

        while (received < wanted)
        {
            // Drain what is already there in bulk; wait only when the queue is empty.
            while (received < wanted && engine.TryRead(out var ready))
            {
                if (match is null || match(ready))
                {
                    WriteObject(new MessengerReceivedMessage(ready));
                    received++;
                }
                else
                {
                    node.Stash(ready);
                }
            }
            if (received >= wanted || timeout == TimeSpan.Zero) break;

            MessengerMessage next;
            try
            {
                next = Await(engine.ReadAsync(waitToken).AsTask());
            }
            catch (OperationCanceledException) when (deadline?.IsCancellationRequested == true)
            {
                break;
            }
            catch (NodeStoppedException)
            {
                stopped = true;
                break;
            }
            if (match is null || match(next))
            {
                WriteObject(new MessengerReceivedMessage(next));
                received++;
            }
            else
            {
                node.Stash(next);
            }
        }

        var dropped = node.TakeStashDropped();
        if (dropped > 0) WriteWarning($"Node {node.Name} dropped {dropped} filtered-out messages kept for later receives: more than its receive queue capacity were waiting.");
        if (Count > 0 && received < Count)
        {
            WriteError(stopped
                ? ErrorFactory.FromException(new NodeStoppedException(node.Name), node.Name)
                : ErrorFactory.ReceiveTimeoutError(node.Name, received, Count, timeout));
        }
    }

    private Func<MessengerMessage, bool>? BuildFilter()
    {
        var from = From?.Select(f => WildcardPattern.Get(f, WildcardOptions.IgnoreCase)).ToArray();
        var topics = Topic?.Select(t => WildcardPattern.Get(t, WildcardOptions.IgnoreCase)).ToArray();
        var kind = Kind;
        if (from is null && topics is null && kind is null) return null;
        return m =>
            (kind is null || m.Kind == kind)
            && (from is null || Array.Exists(from, p => p.IsMatch(m.From)))
            && (topics is null || (m.Topic is not null && Array.Exists(topics, p => p.IsMatch(m.Topic))));
    }
}
