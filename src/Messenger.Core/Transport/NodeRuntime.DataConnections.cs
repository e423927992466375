using Messenger.Internal;
using Messenger.Protocol;
using NetMQ;

namespace Messenger.Transport;

// Data connections (docs/PROTOCOL.md, "Data connections"): per peer, a second DEALER with a session of its own that
// carries only DATA. Once its handshake is done it leaves the poller, so that a sender whose link is idle can seal
// and send its message on its own thread, under the connection's gate, instead of waking the poller to do it.
internal sealed partial class NodeRuntime
{
    /// <summary>How long a link waits before it opens a data connection again after one failed.</summary>
    private const int DataRetryMilliseconds = 1000;

    /// <summary>How often a data connection that hit its high-water mark is tried again.</summary>
    private const int DataBlockedRetryMilliseconds = 1;

    /// <summary>A data connection on which frames wait this long with no acknowledgement coming is given up, and
    /// what it carried goes again on the link's own connection. A peer acknowledges within 2 ms: this catches a
    /// data port that cannot be reached (a firewall, a container that publishes only the unicast port), where
    /// ZeroMQ would keep the frames queued, unsent, for ever.</summary>
    private const int DataStallMilliseconds = 2000;

    /// <summary>The longest wait before a data connection is opened again after ones that never worked.</summary>
    private const int MaxDataRetryMilliseconds = 60_000;

    private readonly NetMQTimer _dataRetryTimer;
    private long _directSends;

    /// <summary>Tests: the state of the data connection to a peer (null: none).</summary>
    internal Task<DataConnectionState?> DataConnectionAsync(string name) =>
        InvokeAsync(() => _byName.TryGetValue(name, out var link) ? link.Data?.State : null);

    /// <summary>Tests: how many frames sent to a peer wait for its acknowledgement (-1: no such peer).</summary>
    internal Task<int> UnacknowledgedFramesAsync(string name) =>
        InvokeAsync(() => _byName.TryGetValue(name, out var link) ? link.Outbound.UnacknowledgedFrames : -1);

    /// <summary>Tests: drops the data connection to a peer as if it had failed (false when there was none).</summary>
    internal Task<bool> DropDataConnectionAsync(string name) => InvokeAsync(() =>
    {
        if (!_byName.TryGetValue(name, out var link) || link.Data is null) return false;
        CloseData(link, "dropped by a test");
        return true;
    });

    private bool WantsDataConnection(PeerLink link) =>
        _options.DirectSends && link.Data is null && link.Welcomed && _stopRequested == 0
        && link.Session is { Established: true, HandshakeHash: not null } && Environment.TickCount64 >= link.DataRetryAt;

    /// <summary>Opens the link's data connection and starts its handshake; DATA goes on the link's own connection
    /// until it is ready.</summary>
    private void OpenDataConnection(PeerLink link)
    {
        var dealer = NewDealer();
        // A routing id of our choosing, which the connection keeps when it moves to the peer's data port.
        dealer.Options.Identity = NewDataIdentity();
        if (TryConnect(dealer, link.Address.Endpoint, link.Address.Host, out var endpoint) is { } failure)
        {
            dealer.Dispose();
            link.DataRetryAt = Environment.TickCount64 + DataRetryMilliseconds;
            Log.FrameRejected(_logger, link.Address.Endpoint, $"cannot open a data connection: {failure}");
            return;
        }
        var data = new DataConnection(new DealerSession(dealer, link.Id) { DataFor = link.Session!.HandshakeHash }, endpoint);
        dealer.ReceiveReady += (_, _) => Guard(LinkActor(link), () => OnDataDealerReady(link, data), () => RestartLink(link));
        _poller.Add(dealer);
        link.Data = data;
        StartHandshake(data.Session);
    }

    /// <summary>The data connection's handshake, while it is in the poller: message 2, then WELCOME (or REFUSE).</summary>
    private void OnDataDealerReady(PeerLink link, DataConnection data) => ReadDealer(
        () => link.Data == data && data.InPoller ? data.Session : null,
        link.Name,
        refused => CloseData(link, $"refused: {refused.Reason}"),
        inner =>
        {
            switch (Wire.ReadHeader(inner))
            {
                case FrameType.Welcome:
                    var welcome = ControlFrames.ReadWelcome(inner, Secure);
                    if (welcome.Id != link.Id) throw new ProtocolException($"data connection WELCOME from another node than {link.Id}");
                    if (welcome.DataPort == 0) throw new ProtocolException("data connection WELCOME without a data port");
                    OnDataWelcomed(link, data, welcome.DataPort);
                    break;
                case FrameType.Reset:
                    CloseData(link, "the peer forgot its session");
                    break;
                default:
                    throw new ProtocolException($"{(FrameType)inner[2]} is not an answer on a data connection");
            }
        });

    private void OnDataWelcomed(PeerLink link, DataConnection data, int dataPort)
    {
        if (data.State != DataConnectionState.Handshaking) return;
        // From here on the socket is touched only under the gate, by senders and by the poller alike.
        _poller.Remove(data.Session.Dealer);
        data.InPoller = false;
        // The connection moves to the peer's data receiver. Until ZeroMQ has connected it there, it refuses what is
        // sent on it, which then waits for the data retry timer.
        // The data port is at the address the connection was opened to (a name was looked up then).
        var dataEndpoint = $"{data.Endpoint[..(data.Endpoint.LastIndexOf(':') + 1)]}{dataPort}";
        try
        {
            lock (data.Gate)
            {
                data.Session.Dealer.Disconnect(data.Endpoint);
                data.Session.Dealer.Connect(dataEndpoint);
            }
        }
        catch (Exception e) when (IsConnectFailure(e))
        {
            CloseData(link, $"cannot connect to the data port {dataPort}: {e.Message}");
            return;
        }
        data.MoveTo(DataConnectionState.Draining);
        TryFinishDrain(link, data);
    }

    /// <summary>A data connection's routing id: 16 random bytes, the first never 0 (ZeroMQ's own ids start with 0).</summary>
    private static byte[] NewDataIdentity()
    {
        var id = System.Security.Cryptography.RandomNumberGenerator.GetBytes(16);
        id[0] |= 0x80;
        return id;
    }

    /// <summary>Makes the data connection the link's path for DATA once nothing sent on the link's own connection
    /// waits for an acknowledgement: a frame on one connection cannot then overtake an earlier one on the other
    /// (the receiver would drop the earlier one as a duplicate).</summary>
    private void TryFinishDrain(PeerLink link, DataConnection data)
    {
        if (data.State != DataConnectionState.Draining || link.Outbound.UnacknowledgedFrames > 0) return;
        if (link.Blocked && link.Session is { } session)
        {
            session.Dealer.SendReady -= link.SendReadyHandler;
            link.Blocked = false;
        }
        data.MoveTo(DataConnectionState.Ready);
        FlushLink(link);
    }

    /// <summary>Closes the link's data connection. With <paramref name="resend"/>, what was sent on it and not
    /// acknowledged goes again on the link's own connection, whose receiver drops what it already has (without, it
    /// waits for the link's next session). A new one is opened a second later at the earliest.</summary>
    private void CloseData(PeerLink link, string reason, bool resend = true)
    {
        if (link.Data is not { } data) return;
        link.Data = null;
        data.Retire();
        if (_poller.IsRunning && data.InPoller) _poller.Remove(data.Session.Dealer);
        data.Dispose();
        link.DataRetryAt = Environment.TickCount64 + DataRetryMilliseconds;
        Log.DataConnectionClosed(_logger, link.Name, reason);
        if (resend && link.Outbound.RequeueUnacknowledged() > 0)
        {
            OweAckAgain(link);
            FlushLink(link);
        }
    }

    /// <summary>Sends what is queued for the link on its data connection (poller thread, under the gate).</summary>
    private void FlushData(PeerLink link, DataConnection data)
    {
        if (data.State != DataConnectionState.Ready) return;
        lock (data.Gate)
        {
            if (data.Blocked || !data.IsReady) return;
            var dealer = data.Session.Dealer;
            var sealer = data.Session.Sealer;
            if (!SendQueued(link, segment => Faults.TakeLostDataFrame() || TrySendInner(dealer, sealer, segment.Buffer.AsSpan(0, segment.Length))))
            {
                data.Blocked = true;
                _dataRetryTimer.Enable = true;
            }
        }
    }

    /// <summary>A sender's thread: when the link's data connection is ready, nobody else is using it and nothing
    /// is queued or unacknowledged for the peer, encodes, seals and sends the message here and now. True when the
    /// message was taken (sent, or queued for the poller should the socket refuse it), with its sequence number.</summary>
    private bool TrySendDirect(PeerLink link, OutboundQueue queue, DataConnection data, ReadOnlySpan<byte> body, MessageContentType contentType, byte[]? topic, bool ackNow, long sentAtMicros, out long sequence)
    {
        sequence = 0;
        if (!data.Gate.TryEnter()) return false;
        try
        {
            if (!data.IsReady || queue.TryTakeIdle(body, contentType, topic, sentAtMicros, ackNow, out sequence) is not { } segment) return false;
            var ack = PutOwedAckInData(link, segment);
            var sent = TrySendOnData(data, segment.Buffer.AsSpan(0, segment.Length));
            SettleAckInData(link, ack, sent);
            if (sent)
            {
                CountSent(segment);
                Interlocked.Increment(ref _directSends);
                Telemetry.MessagesSentDirect.Add(1, _nodeTag);
            }
            else if (queue.Unsent(segment))
            {
                RingDoorbell(queue);
            }
            return true;
        }
        finally
        {
            data.Gate.Exit();
        }
    }

    /// <summary>Under the gate, on a sender's thread or the poller: seals and sends one frame on the data connection.
    /// False when the socket refused it or was closed meanwhile (the caller keeps the frame for the poller).</summary>
    private bool TrySendOnData(DataConnection data, ReadOnlySpan<byte> inner)
    {
        if (Faults.TakeLostDataFrame()) return true;
        try
        {
            return TrySendInner(data.Session.Dealer, data.Session.Sealer, inner);
        }
        catch (Exception e) when (e is NetMQException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Tries again the data connections that hit their high-water mark.</summary>
    private void OnDataRetryTimer()
    {
        var waiting = false;
        foreach (var link in _peers.Values)
        {
            if (link.Data is not { } data) continue;
            lock (data.Gate)
            {
                if (!data.Blocked) continue;
                data.Blocked = false;
            }
            FlushLink(link);
            waiting |= data.Blocked;
        }
        if (!waiting) _dataRetryTimer.Enable = false;
    }

    /// <summary>From the tick: a data connection whose handshake did not finish in time is given up (and opened
    /// again later); one out of the poller is read only for a RESET, which its peer sends when it no longer knows the
    /// session (the link's own connection then learns it too, at its next frame).</summary>
    private void CheckDataConnections(long now)
    {
        List<(PeerLink, string)>? failed = null;
        List<PeerLink>? stalled = null;
        foreach (var link in _peers.Values)
        {
            if (link.Data is not { } data) continue;
            if (data.InPoller)
            {
                if (now - data.Session.LastHelloSent > (long)_options.HandshakeTimeout.TotalMilliseconds) (failed ??= []).Add((link, "its handshake timed out"));
                continue;
            }
            if (IsStalled(link, data, now))
            {
                (stalled ??= []).Add(link);
                continue;
            }
            lock (data.Gate)
            {
                for (var i = 0; i < MaxFramesPerWakeup && data.Session.Dealer.TryReceiveFrameBytes(out var frame, out var more); i++)
                {
                    if (more) data.Session.Dealer.SkipMultipartMessage();
                    else if (frame.Length >= Wire.HeaderSize && frame[2] == (byte)FrameType.Reset)
                    {
                        (failed ??= []).Add((link, "the peer forgot its session"));
                        break;
                    }
                }
            }
        }
        if (failed is not null) foreach (var (link, reason) in failed) CloseData(link, reason);
        if (stalled is null) return;
        foreach (var link in stalled)
        {
            var neverWorked = link.Data is { EverAcknowledged: false };
            CloseData(link, $"nothing sent on it was acknowledged for {DataStallMilliseconds / 1000} s");
            if (!neverWorked) continue;
            // A data port out of reach stays so: the next tries come later and later.
            link.DataStalls++;
            link.DataRetryAt = now + Math.Min(MaxDataRetryMilliseconds, DataRetryMilliseconds << Math.Min(link.DataStalls, 16));
        }
    }

    /// <summary>From the tick: whether a data connection out of the poller has had messages waiting (unsent, as
    /// when ZeroMQ has no connection to send them on, or unacknowledged) with no acknowledgement coming for
    /// <see cref="DataStallMilliseconds"/>: a ready one, or one draining, whose wait for the link's own connection
    /// must not be endless either.</summary>
    private static bool IsStalled(PeerLink link, DataConnection data, long now)
    {
        if (data.State is not (DataConnectionState.Ready or DataConnectionState.Draining)) return false;
        var acknowledged = link.Outbound.AcknowledgedSequence;
        if (acknowledged != data.LastAcknowledged || link.Outbound.PendingBytes == 0)
        {
            if (acknowledged != data.LastAcknowledged && data.ProgressAt != 0 && data.State == DataConnectionState.Ready)
            {
                data.EverAcknowledged = true;
                link.DataStalls = 0;
            }
            data.LastAcknowledged = acknowledged;
            data.ProgressAt = now;
            return false;
        }
        return now - data.ProgressAt > DataStallMilliseconds;
    }
}
