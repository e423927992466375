using System.Management.Automation;
using Messenger.PowerShell.Internal;

namespace Messenger.PowerShell.Commands;

/// <summary>
/// What the Messenger cmdlets share: a cancellation token that Ctrl+C (StopProcessing) cancels, blocking waits
/// that turn that cancellation into a clean pipeline stop, and the resolution of -Node.
/// </summary>
public abstract class MessengerCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Cancelled when the pipeline is stopped (Ctrl+C).</summary>
    protected CancellationToken StopToken => _stopping.Token;

    /// <inheritdoc/>
    protected override void StopProcessing() => _stopping.Cancel();

    /// <inheritdoc/>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what the command holds; PowerShell calls Dispose when the pipeline ends or stops.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing) _stopping.Dispose();
    }

    /// <summary>Send commands: one MessageTooLarge error for each message the engine refused since the last call (a
    /// peer told a smaller limit after the command began), whose limit the rest of the stream keeps. The error's
    /// target is <paramref name="target"/>, or the peer.</summary>
    private protected void WriteRefused(SendCoalescer? coalescer, SendLimit limit, string? target)
    {
        if (coalescer is not { HasRefused: true }) return;
        foreach (var refusal in coalescer.TakeRefused())
        {
            limit.Lower(refusal);
            WriteError(ErrorFactory.FromException(refusal, target ?? refusal.Peer));
        }
    }

    /// <summary>Gives a message to the engine, waiting (cancellably) only when its send queue is full.</summary>
    protected static void Complete(ValueTask pending, CancellationToken cancellation)
    {
        if (pending.IsCompletedSuccessfully) return;
        pending.AsTask().WaitAsync(cancellation).GetAwaiter().GetResult();
    }

    /// <summary>Terminates the command for a MessengerException, and turns Ctrl+C into a pipeline stop.</summary>
    protected void ThrowForSendFailure(Exception e, object? target)
    {
        switch (e)
        {
            case OperationCanceledException when _stopping.IsCancellationRequested:
                throw new PipelineStoppedException();
            case MessengerException m:
                ThrowTerminatingError(ErrorFactory.FromException(m, target));
                break;
        }
    }

    /// <summary>Blocks the pipeline thread until <paramref name="task"/> ends. The task must not need this thread
    /// (the engine's tasks never capture a context). Ctrl+C ends the wait with a pipeline stop.</summary>
    protected void Await(Task task)
    {
        try
        {
            task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <inheritdoc cref="Await(Task)"/>
    protected T Await<T>(Task<T> task)
    {
        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>The node a -Node argument names (see <see cref="NodeResolver"/>). Terminates the command with
    /// NodeNotFound, NodeNotSpecified or InvalidNodeArgument when it cannot.</summary>
    protected MessengerNodeInfo ResolveNode(object? node)
    {
        if (NodeResolver.Resolve(node, out var error) is { } found) return found;
        ThrowTerminatingError(error!);
        return null!;
    }

    /// <summary>A path argument (-Path, -LogPath, -KeyPath...) as a file system path, a relative one against the current
    /// location. Terminates with InvalidConfiguration when that location is on another provider (Env:, say), where
    /// the file would otherwise land in the process's own folder unseen.</summary>
    protected string FileSystemPath(string path, string parameter)
    {
        var resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out _);
        if (provider.ImplementingType == typeof(Microsoft.PowerShell.Commands.FileSystemProvider)) return resolved;
        ThrowTerminatingError(ErrorFactory.FromException(new MessengerConfigurationException(parameter,
            $"'{path}' is not a file system path (it names a {provider.Name} item); give a full path, or Set-Location to a folder first."), path));
        return null!;
    }

    /// <summary>Ends the command with InvalidTopic for a topic the engine would refuse: more than 255 bytes of UTF-8,
    /// or not valid Unicode (a lone surrogate, which would go as U+FFFD: another topic).</summary>
    protected void ThrowIfInvalidTopic(string? topic)
    {
        if (topic is null) return;
        int size;
        try
        {
            size = StrictUtf8.GetByteCount(topic);
        }
        catch (System.Text.EncoderFallbackException)
        {
            size = -1;
        }
        if (size is < 1 or > 255) ThrowTerminatingError(ErrorFactory.FromException(new InvalidTopicException(topic), topic));
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>A timeout in seconds as a TimeSpan: -1 (the only negative <see cref="Internal.ValidateTimeoutAttribute"/>
    /// lets through) means no limit.</summary>
    protected static TimeSpan Seconds(double seconds) =>
        seconds == -1 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(Math.Min(seconds, int.MaxValue / 1000.0));
}
