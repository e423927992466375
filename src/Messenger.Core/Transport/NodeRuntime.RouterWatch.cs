using System.Reflection;
using NetMQ;

namespace Messenger.Transport;

// How the poller watches the unicast ROUTER. Not as a NetMQ socket: NetMQ's poller then makes the socket process its
// pending commands in its own loop, and one of them can throw. A ROUTER makes up a routing id (0 and a counter) for a
// connection that brings none, and adds it without looking whether a peer has claimed that id already: a stranger who
// holds many such ids and opens many more connections makes that throw, and inside NetMQ's poller it ended the process
// (NetMQ 4.0.4.5). So the poller watches the ROUTER's command mailbox as a plain socket, and the ROUTER processes its
// commands only here, in handlers that catch the throw: that one connection is not attached, and the ROUTER goes on.
// Whatever touches the ROUTER may take the mailbox's signal (a send processes commands too) and leave messages
// waiting without one: after every piece of the poller's work, the ROUTER is looked at again.
internal sealed partial class NodeRuntime
{
    // NetMQ keeps the mailbox's handle internal (ZMQ_FD in libzmq): reached by reflection.
    private static readonly MethodInfo s_socketOption = typeof(NetMQSocket)
        .GetMethod("GetSocketOptionX", BindingFlags.Instance | BindingFlags.NonPublic)!
        .MakeGenericMethod(typeof(System.Net.Sockets.Socket));

    private static readonly object s_handleOption = Enum.Parse(typeof(NetMQSocket).Assembly.GetType("NetMQ.Core.ZmqSocketOption", throwOnError: true)!, "Handle");

    private System.Net.Sockets.Socket? _routerMailbox;
    private bool _readingRouter;
    private bool _routerReadPosted;
    private long _routerIdClashes;

    /// <summary>Tests: how often NetMQ threw at a made-up routing id that was taken.</summary>
    internal long RouterIdClashes => Interlocked.Read(ref _routerIdClashes);

    private void AddRouterToPoller()
    {
        _routerMailbox = (System.Net.Sockets.Socket)s_socketOption.Invoke(_router, [s_handleOption])!;
        _poller.Add(_routerMailbox, _ => OnRouterSignalled());
    }

    private void RemoveRouterFromPoller()
    {
        if (_routerMailbox is null) return;
        _poller.Remove(_routerMailbox);
        _routerMailbox = null;
    }

    private void OnRouterSignalled()
    {
        _routerReadPosted = false;
        // Only what this wake-up delivers counts (broadcasts from the SUBs may have woken a reader meanwhile).
        _received.LastWriteWokeReader = false;
        _readingRouter = true;
        try
        {
            Guard("unicast", () =>
            {
                if (RouterHasIn()) OnRouterReady();
            }, RestartRouter);
        }
        finally
        {
            _readingRouter = false;
        }
        Guard("node", AwaitReply);
    }

    /// <summary>After a piece of the poller's work: messages that wait on the ROUTER with no signal left are read.</summary>
    private void CheckRouterAfterWork()
    {
        if (_readingRouter || _routerReadPosted || _routerMailbox is null || _stopRequested != 0 && !_poller.IsRunning) return;
        try
        {
            if (!RouterHasIn()) return;
            _routerReadPosted = true;
            if (!Post(OnRouterSignalled)) _routerReadPosted = false;
        }
        catch (Exception e)
        {
            // Outside every handler's guard: nothing may leave the poller's loop. The unicast actor restarts.
            _routerReadPosted = false;
            OnActorFailed("unicast", e, RestartRouter);
        }
    }

    /// <summary>Processes the ROUTER's pending commands and says whether a message waits.</summary>
    private bool RouterHasIn()
    {
        for (var i = 0; i < 64; i++)
        {
            try
            {
                return _router.HasIn;
            }
            catch (ArgumentException)
            {
                // The command that threw is gone; the next ones are processed on the next look.
                Interlocked.Increment(ref _routerIdClashes);
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }
        return true;
    }
}
