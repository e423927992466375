using System.Collections.Concurrent;
using Messenger.Internal;
using Messenger.Protocol;
using Microsoft.Extensions.Logging;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Transport;

// The data receiver (docs/PROTOCOL.md, "Data connections"): a ROUTER of its own, the data port, that a
// thread of its own reads with a blocking receive. Peers' data connections move to it once their handshake on the
// unicast port is done, so that their DATA is opened and queued for the reader without waking the node's poller:
// a NetMQPoller's wake-up looks at every socket it holds, twice, and in the benchmark's round trip a thread blocked
// on one socket answered 20-30 us sooner than a poller holding that socket alone. The thread owns its socket; it
// shares with the poller only the routes (a concurrent map the poller fills and empties), a link's delivery gate,
// and the receive queue; what else a frame asks for (an ACK frame, a dropped session) it posts to the poller.
internal sealed partial class NodeRuntime
{
    /// <summary>How long the data receiver sleeps at most between looks at the acknowledgements it owes and its
    /// reject summary.</summary>
    private const int DataReceiverIdleMilliseconds = 250;

    private RouterSocket? _dataRouter;
    private DealerSocket? _dataWake;
    private readonly Lock _dataWakeGate = new();
    private Thread? _dataThread;
    private volatile bool _dataStopping;
    private readonly ConcurrentDictionary<byte[], RouterSession> _dataRoutes = new(ByteArrayComparer.Instance);

    // The data receiver's own: written by its thread only.
    private readonly List<BatchRecord> _dataRecords = [];
    private readonly List<MessengerMessage> _dataDeliveries = [];
    private readonly List<PeerLink> _dataAcksDue = [];
    private readonly RejectTally _dataRejects = new();
    private SourceBudget? _dataResetBudget;
    private long _dataTidiedAt;
    private long _dataFramesReceived;
    private long _dataBytesReceived;
    private long _dataMessagesReceived;
    private long _dataFramesRejected;
    // Not 5 bytes: NetMQ makes up 5-byte routing ids (0 and a counter) for connections that bring none, without
    // looking whether one is taken, and throws when it is.
    private static readonly byte[] s_dataWakeIdentity = "\0messenger-wake"u8.ToArray();

    /// <summary>The TCP port of the data receiver.</summary>
    public int DataPort { get; private set; }

    /// <summary>Tests: the data port told to peers in place of the real one (0: the real one), as if a firewall
    /// stood in the way.</summary>
    internal int AnnouncedDataPort { get; set; }

    /// <summary>Tests: data connections bound to the data receiver now.</summary>
    internal int DataRouteCount => _dataRoutes.Count;

    /// <summary>Tests: messages the data receiver queued for the reader.</summary>
    internal long DataReceiverMessages => Volatile.Read(ref _dataMessagesReceived);

    /// <summary>Binds the data receiver's ROUTER (constructor).</summary>
    private void BindDataReceiver()
    {
        _dataRouter = NewRouterSocket();
        // The wake-up connects before the TCP port is open: its routing id is then taken, and nobody else can use it.
        var inproc = $"inproc://messenger-data-{Guid.NewGuid():N}";
        _dataRouter.Bind(inproc);
        _dataWake = new DealerSocket();
        _dataWake.Options.Linger = TimeSpan.Zero;
        _dataWake.Options.Identity = s_dataWakeIdentity;
        _dataWake.Connect(inproc);
        DataPort = Bind(_dataRouter, _options.BindAddress, _options.DataPort, "DataPort");
        _dataResetBudget = new SourceBudget(burst: 1, (int)_options.StrangerResetInterval.TotalMilliseconds, _options.MaxTrackedConnections);
    }

    private void StartDataReceiver()
    {
        if (_dataRouter is null) return;
        _dataThread = new Thread(RunDataReceiver) { IsBackground = true, Name = $"messenger-{Name}-data" };
        _dataThread.Start();
    }

    /// <summary>Stops the data receiver's thread and closes its sockets (any thread, once the poller is stopped).</summary>
    private void StopDataReceiver()
    {
        _dataStopping = true;
        if (_dataThread is not null)
        {
            WakeDataReceiver();
            _dataThread.Join();
            _dataThread = null;
        }
        foreach (var route in _dataRoutes.Values) route.Dispose();
        _dataRoutes.Clear();
        lock (_dataWakeGate)
        {
            _dataWake?.Dispose();
            _dataWake = null;
        }
        _dataRouter?.Dispose();
    }

    private void WakeDataReceiver()
    {
        lock (_dataWakeGate) _dataWake?.TrySendFrameEmpty();
    }

    /// <summary>Poller thread: from now on the data connection's frames arrive at the data receiver.</summary>
    private void AddDataRoute(RouterSession route) => _dataRoutes[route.RoutingId] = route;

    /// <summary>The data receiver forgets the route (its session ended): the poller's thread, or the receiver's.</summary>
    private void RemoveDataRoute(RouterSession route) =>
        _dataRoutes.TryRemove(new KeyValuePair<byte[], RouterSession>(route.RoutingId, route));

    private void RunDataReceiver()
    {
        var router = _dataRouter!;
        var msg = new Msg();
        while (!_dataStopping)
        {
            try
            {
                var wait = NextDataWait(Environment.TickCount64);
                msg.InitEmpty();
                if (TryReceiveQuietly(router, ref msg, wait)) OnDataReady(router, ref msg);
                else msg.Close();
                var now = Environment.TickCount64;
                SendDataAcksDue(now);
                TidyDataReceiver(now);
            }
            catch (Exception e) when (e is TerminatingException or ObjectDisposedException && _dataStopping)
            {
                return;
            }
            catch (Exception e)
            {
                // Nothing may leave the thread (it would end the process): a failure of the socket itself is beyond
                // repair here, and the node stops with it.
                if (msg.IsInitialised) msg.Close();
                Log.PartFailed(_logger, "data", e);
                if (!_dataStopping) Escalate("data", $"the data receiver's socket failed: {e.GetType().Name}: {e.Message}");
                return;
            }
        }
    }

    /// <summary>A receive that takes NetMQ's throw at a made-up routing id that is taken (a stranger can bring that
    /// about, see <see cref="s_dataWakeIdentity"/>) for what it is: that stranger's connection is not attached,
    /// and the socket goes on working. False, with <paramref name="msg"/> still open, when nothing came.</summary>
    private static bool TryReceiveQuietly(RouterSocket router, ref Msg msg, TimeSpan wait)
    {
        try
        {
            return router.TryReceive(ref msg, wait);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Answers RESET on the data ROUTER; a send that NetMQ cannot make (see <see cref="TryReceiveQuietly"/>)
    /// is given up: the peer notices a dead data connection by its missing acknowledgements.</summary>
    private void SendDataReset(RouterSocket router, byte[] identity)
    {
        try
        {
            if (router.TrySendFrame(TimeSpan.Zero, identity, more: true)) router.TrySendFrame(TimeSpan.Zero, Secure ? s_resetV2 : s_resetV1);
        }
        catch (ArgumentException)
        {
        }
    }

    /// <summary>A data receiver's piece of work failed (a bug, or an injected fault): the supervisor hears of it, and
    /// the receiver restarts.</summary>
    private void OnDataReceiverFailed(RouterSocket router, Exception e)
    {
        RestartDataReceiver(router);
        Post(() => OnActorFailed("data", e, null));
    }

    /// <summary>Data receiver thread, after a failure: the frame it was working on may be lost, so every data
    /// connection's session ends, as on a restarted ROUTER. Each is told RESET at once, and its initiator sends
    /// again, on the link's own connection, what it had not had acknowledged.</summary>
    private void RestartDataReceiver(RouterSocket router)
    {
        foreach (var route in _dataRoutes.Values)
        {
            RemoveDataRoute(route);
            SendDataReset(router, route.RoutingId);
            Post(() => DropRoute(route));
        }
        _dataRecords.Clear();
        _dataDeliveries.Clear();
    }

    /// <summary>Reads what the data ROUTER holds, starting with the message part already in <paramref name="msg"/>.</summary>
    private void OnDataReady(RouterSocket router, ref Msg msg)
    {
        for (var i = 0; i < MaxFramesPerWakeup; i++)
        {
            if (!TakeRouted(router, ref msg, waited: i == 0, out var identity, out var reason)) return;
            if (reason != RejectReason.None)
            {
                RejectDataFrame(reason, identity, null);
                if (reason == RejectReason.Truncated) return;
                continue;
            }
            if (identity!.AsSpan().SequenceEqual(s_dataWakeIdentity))
            {
                msg.Close();
                continue;
            }
            // The frame's buffer is kept, as on the ROUTER: delivered messages point into it.
            try
            {
                OnDataFrame(router, identity!, KeepBuffer(ref msg));
            }
            catch (Exception e) when (e is not (TerminatingException or ObjectDisposedException) || !_dataStopping)
            {
                OnDataReceiverFailed(router, e);
            }
        }
    }

    private void OnDataFrame(RouterSocket router, byte[] identity, ArraySegment<byte> frame)
    {
        Faults.Check("data");
        Faults.WaitWhileDataReceiverHeld();
        Volatile.Write(ref _dataFramesReceived, _dataFramesReceived + 1);
        Volatile.Write(ref _dataBytesReceived, _dataBytesReceived + frame.Count);
        Telemetry.BytesReceived.Add(frame.Count, _nodeTag);
        if (!_dataRoutes.TryGetValue(identity, out var route))
        {
            // A connection this node holds no session for (a stranger, or a data connection whose session ended):
            // told RESET, as on the unicast port, so that a peer opens a new data connection.
            RejectDataFrame(RejectReason.NoSession, identity, null);
            if (_dataResetBudget!.TryTake(identity, Environment.TickCount64)) SendDataReset(router, identity);
            return;
        }
        var link = route.Link;
        var reason = Secure ? Wire.CheckEnvelope(frame, out var type) : Wire.CheckHeader(frame, out type);
        if (reason != RejectReason.None || type != (Secure ? FrameType.Sealed : FrameType.Data))
        {
            RejectDataFrame(reason != RejectReason.None ? reason : RejectReason.WrongSocket, identity, link.Name);
            return;
        }
        var inner = frame;
        if (Secure ? !route.TryOpenInPlace(frame, Wire.HeaderSize, out inner) : route.IsDisposed)
        {
            // A frame that fails authentication ends that session; the peer opens a new data connection. A session
            // that the poller ended a moment ago is not an authentication failure.
            EndDataSession(router, route, route.IsDisposed ? RejectReason.NoSession : RejectReason.Authentication);
            return;
        }
        try
        {
            if (Wire.ReadHeader(inner) != FrameType.Data) throw new ProtocolException($"{(FrameType)inner[2]} is not sent on a data connection");
            OnDataConnectionData(router, link, route, inner);
        }
        catch (ProtocolException e)
        {
            Volatile.Write(ref _dataFramesRejected, _dataFramesRejected + 1);
            Telemetry.FramesRejected.Add(1, _nodeTag, new("reason", RejectReasons.Tag(RejectReason.Invalid)));
            Log.FrameRejected(_logger, link.Name, e.Message);
        }
    }

    /// <summary>Ends a data connection's session at once, answering RESET: its initiator sends what it had not had
    /// acknowledged again on the link's own connection, and opens a new data connection.</summary>
    private void EndDataSession(RouterSocket router, RouterSession route, RejectReason reason)
    {
        RemoveDataRoute(route);
        RejectDataFrame(reason, route.RoutingId, route.Link.Name);
        _dataResetBudget!.Forget(route.RoutingId);
        SendDataReset(router, route.RoutingId);
        Post(() => DropRoute(route));
    }

    /// <summary>DATA on a data connection: its acknowledgement of our DATA is taken, its new messages are queued
    /// for the reader, and the peer is owed an ACK (which an answer carries, or the poller sends). A frame that
    /// leaves a gap in the stream ends the session instead.</summary>
    private void OnDataConnectionData(RouterSocket router, PeerLink link, RouterSession route, ArraySegment<byte> frame)
    {
        _dataRecords.Clear();
        var acknowledged = BatchReader.Read(frame, FrameType.Data, _dataRecords);
        if (acknowledged > 0)
        {
            // Before the messages are delivered, as on the poller: a reader who answers at once finds the link idle.
            link.Outbound.Acknowledge(acknowledged);
            // The poller acts on it too when it waits for it: to hand the link over to a draining data connection, or
            // to say LEAVE once the peer has everything.
            if (link.Data is { State: DataConnectionState.Draining } || Volatile.Read(ref _stopRequested) != 0) Post(() => OnAcknowledged(link, acknowledged));
        }
        var now = Environment.TickCount64;
        link.LastSeen = now;
        if (link.State == PeerState.Unreachable) Post(() => Touch(link));
        var delivered = QueueNewRecords(link, route, MessageKind.Unicast, _dataRecords, _dataDeliveries, refuseGap: true, out var ackNow, out var duplicates, out _, out var last);
        if (delivered == -2)
        {
            RejectDataFrame(RejectReason.NoSession, route.RoutingId, link.Name);
            return;
        }
        if (delivered < 0)
        {
            EndDataSession(router, route, RejectReason.Gap);
            return;
        }
        for (var i = 0; i < duplicates; i++) RejectDataFrame(RejectReason.Duplicate, null, link.Name);
        Volatile.Write(ref _dataMessagesReceived, _dataMessagesReceived + delivered);
        Telemetry.MessagesReceived.Add(delivered, _nodeTag);
        var held = Faults.WaitBeforeDataAck();
        OweDataAck(link, route, last, ackNow, now);
        if (held) Faults.ReportAckOwed(link.OwedAck);
    }

    /// <summary>The data receiver's part of <see cref="Acknowledge"/>: the ACK is owed at once; the poller is asked
    /// to send it only when the record's sender waits for it, every few frames, or when no answer took it within the
    /// delay, so that a conversation, whose answers carry the ACKs, costs the poller no wake-up.</summary>
    private void OweDataAck(PeerLink link, RouterSession route, long last, bool now, long tick)
    {
        // The route first: the poller's SendOwedAck may take the owed ACK as soon as it is owed.
        link.AckRoute = route.AcknowledgedOn;
        bool fresh;
        lock (link.DeliveryGate)
        {
            // Its session ended since the frame was delivered (the peer is a new process, say, whose streams count
            // afresh): this ACK counts in the old numbering, and would acknowledge to the new process what it has not
            // had.
            if (route.IsDisposed) return;
            fresh = link.OweAck(last) == 0;
        }
        if (fresh) link.DataFramesOwed = 0;
        if (now || ++link.DataFramesOwed >= AckEveryFrames)
        {
            link.DataFramesOwed = 0;
            Post(() => SendOwedAck(link));
            return;
        }
        if (!link.DataAckScheduled)
        {
            link.DataAckScheduled = true;
            _dataAcksDue.Add(link);
        }
        else if (!fresh)
        {
            return;
        }
        link.DataAckDueAt = tick + AckDelayMilliseconds + 1;
    }

    private TimeSpan NextDataWait(long now)
    {
        var wait = (long)DataReceiverIdleMilliseconds;
        foreach (var link in _dataAcksDue) wait = Math.Min(wait, Math.Max(0, link.DataAckDueAt - now));
        return TimeSpan.FromMilliseconds(wait);
    }

    private void SendDataAcksDue(long now)
    {
        for (var i = _dataAcksDue.Count - 1; i >= 0; i--)
        {
            var link = _dataAcksDue[i];
            if (now < link.DataAckDueAt) continue;
            _dataAcksDue.RemoveAt(i);
            link.DataAckScheduled = false;
            if (link.HasOwedAck) Post(() => SendOwedAck(link));
        }
    }

    private void RejectDataFrame(RejectReason reason, byte[]? connection, string? peer)
    {
        Volatile.Write(ref _dataFramesRejected, _dataFramesRejected + 1);
        Telemetry.FramesRejected.Add(1, _nodeTag, new("reason", RejectReasons.Tag(reason)));
        if (_dataRejects.Add(reason, connection, peer, Environment.TickCount64) && _logger.IsEnabled(LogLevel.Debug))
            Log.FrameRejected(_logger, RejectTally.Describe(connection, peer), RejectReasons.Tag(reason));
    }

    /// <summary>Once a second: the summary of rejected frames, and the RESET budgets of connections gone quiet.</summary>
    private void TidyDataReceiver(long now)
    {
        if (now - _dataTidiedAt < RejectSummaryMilliseconds) return;
        _dataTidiedAt = now;
        _dataResetBudget!.Prune(now);
        if (!_dataRejects.FramesDue(now, RejectSummaryMilliseconds)) return;
        var (count, seconds, reasons, sources) = _dataRejects.TakeFrames(now);
        Log.FramesRejectedSummary(_logger, count, seconds, reasons, sources);
    }
}
