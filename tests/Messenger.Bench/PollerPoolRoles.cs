using System.Collections.Concurrent;
using System.Diagnostics;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Bench;

/// <summary>
/// The round trip's second yardstick: raw NetMQ laid out as any asynchronous API over it must be, and as a Messenger
/// node is. Each side receives on a ROUTER in a NetMQPoller, hands the body to a reader awaiting it on the thread
/// pool, and that reader sends on a DEALER of its own to the other side's ROUTER (no poller hop on the way out). It
/// has none of Messenger's work (no framing, sequence numbers, security, acknowledgements): the distance from raw
/// NetMQ's blocking round trip to this is what the layout costs on this machine.
/// </summary>
internal static class PollerPoolRoles
{
    private const string Bind = "tcp://127.0.0.1";

    /// <summary>Binds a ROUTER, says ready with its endpoint, takes "connect &lt;endpoint&gt;" (the client's ROUTER),
    /// then sends back every body it receives until stopped.</summary>
    public static async Task<int> EchoAsync(Args a)
    {
        using var side = new Side();
        ParentLink.Say("ready", ("endpoint", side.Endpoint));
        var command = await ParentLink.NextCommandAsync().ConfigureAwait(false);
        if (!command.StartsWith("connect ", StringComparison.Ordinal)) return 0;
        side.Connect(command["connect ".Length..]);
        try
        {
            while (true) side.Send(await side.ReceiveAsync(ParentLink.Stopping).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (ParentLink.Stopping.IsCancellationRequested)
        {
        }
        return 0;
    }

    /// <summary>The client: connects to the echo at --endpoint, says ready with its own ROUTER's endpoint, and on
    /// "run" sends one message at a time; the clock runs from the send to the echo coming out of the reader's await.</summary>
    public static async Task<int> RoundTripAsync(Args a)
    {
        var payload = new byte[a.Int("size", 64)];
        var warmup = a.Int("warmup", 1000);
        var count = a.Int("count", 10000);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ParentLink.Stopping);
        timeout.CancelAfter(TimeSpan.FromSeconds(a.Long("timeout", 60)));
        using var side = new Side();
        side.Connect(a.Require("endpoint"));
        ParentLink.Say("ready", ("endpoint", side.Endpoint));
        if (await ParentLink.NextCommandAsync().ConfigureAwait(false) != "run") return 0;

        return await RoundTripLoop.RunAsync(payload.Length, warmup, count, async _ =>
        {
            side.Send(payload);
            try
            {
                return (await side.ReceiveAsync(timeout.Token).ConfigureAwait(false)).Length;
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                return -1;
            }
        }).ConfigureAwait(false);
    }

    /// <summary>One side: a ROUTER in a poller for what comes in, a DEALER sent on from the reader's thread.</summary>
    private sealed class Side : IDisposable
    {
        private readonly RouterSocket _router = new();
        private readonly DealerSocket _dealer = new();
        private readonly NetMQPoller _poller;
        private readonly ConcurrentQueue<byte[]> _received = new();
        private readonly Lock _sendGate = new();
        private TaskCompletionSource? _waiter;

        public Side()
        {
            Endpoint = $"{Bind}:{_router.BindRandomPort(Bind)}";
            _router.ReceiveReady += (_, _) => OnReceiveReady();
            _poller = [_router];
            _poller.RunAsync("poller-pool", isBackgroundThread: true);
        }

        public string Endpoint { get; }

        public void Connect(string endpoint) => _dealer.Connect(endpoint);

        public void Send(byte[] body)
        {
            lock (_sendGate) _dealer.SendFrame(body);
        }

        public async ValueTask<byte[]> ReceiveAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                if (_received.TryDequeue(out var body)) return body;
                var mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref _waiter, mine);
                // What the poller queued before it could see the waiter is taken here, not waited for.
                if (!_received.IsEmpty)
                {
                    Interlocked.CompareExchange(ref _waiter, null, mine);
                    continue;
                }
                await mine.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        private void OnReceiveReady()
        {
            // Each message is [routing id][body]; the routing id is not needed: replies go out on the DEALER.
            while (_router.TryReceiveFrameBytes(out _, out var more) && more && _router.TryReceiveFrameBytes(out var body)) _received.Enqueue(body);
            Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
        }

        public void Dispose()
        {
            _poller.Dispose();
            _router.Dispose();
            _dealer.Dispose();
        }
    }
}
