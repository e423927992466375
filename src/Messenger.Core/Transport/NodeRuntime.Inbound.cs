using Messenger.Internal;
using Messenger.Protocol;
using Microsoft.Extensions.Logging;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Transport;

// Frames arriving on the ROUTER (from peers' DEALERs), on our DEALERs (answers) and on each peer's SUB (broadcasts).
// Envelopes are opened first (NodeRuntime.Handshake.cs); the inner frames are acted on here.
internal sealed partial class NodeRuntime
{
    /// <summary>Rejected frames and silent refusals are logged as one summary per this time (events 1302, 1203).</summary>
    private const int RejectSummaryMilliseconds = 1000;

    // Per connection: MessengerNodeOptions.StrangerResetInterval.
    private readonly SourceBudget _resetBudget;
    private readonly RejectTally _rejects = new();

    private static readonly byte[] s_resetV1 = ControlFrames.Empty(FrameType.Reset, Wire.Version);
    private static readonly byte[] s_resetV2 = ControlFrames.Empty(FrameType.Reset, Wire.SecureVersion);

    private void OnRouterReady()
    {
        // Frames are read as NetMQ messages and opened in place, in NetMQ's own buffer, which the delivered
        // messages then point into: copying each batch frame into an array of our own first cost a tenth of the
        // receiving thread, and a second array per frame a third of its allocation.
        var msg = new Msg();
        var strangers = 0;
        for (var i = 0; i < MaxFramesPerWakeup; i++)
        {
            if (!TakeRouted(_router, ref msg, waited: false, out var identity, out var reason)) return;
            if (reason != RejectReason.None)
            {
                RejectFrame(reason, identity, null);
                if (reason == RejectReason.Truncated) return;
                continue;
            }
            // Strangers get a bounded share of each wakeup: past it, the poller serves the rest of the node
            // before it comes back to this socket.
            if (!OnRouterFrame(identity!, KeepBuffer(ref msg)) && ++strangers >= _options.MaxStrangerFramesPerWakeup) return;
        }
    }

    /// <summary>Takes the next message from a ROUTER without waiting (its first part is in <paramref name="msg"/>
    /// already when <paramref name="waited"/>): false when none was there. A message is a routing id and one frame:
    /// with <see cref="RejectReason.None"/> the frame is in <paramref name="msg"/>, for the caller; a message of
    /// another shape is read to its end and dropped, and the reason says why (the routing id is null when the
    /// message had none).</summary>
    private static bool TakeRouted(RouterSocket router, ref Msg msg, bool waited, out byte[]? identity, out RejectReason reason)
    {
        identity = null;
        reason = RejectReason.None;
        if (!waited)
        {
            msg.InitEmpty();
            if (!TryReceiveQuietly(router, ref msg, TimeSpan.Zero))
            {
                msg.Close();
                return false;
            }
        }
        if (!msg.HasMore)
        {
            msg.Close();
            reason = RejectReason.Multipart;
            return true;
        }
        identity = msg.CloneData();
        msg.Close();
        msg.InitEmpty();
        if (!TryReceiveQuietly(router, ref msg, TimeSpan.Zero))
        {
            msg.Close();
            reason = RejectReason.Truncated;
            return true;
        }
        if (msg.HasMore)
        {
            msg.Close();
            router.SkipMultipartMessage();
            reason = RejectReason.Multipart;
        }
        return true;
    }

    /// <summary>
    /// The buffer of a received frame, which the node keeps: the messages of a batch opened in place point into it.
    /// The message is not closed afterwards. With NetMQ's default (GC) buffer pool closing only drops the reference;
    /// with a pooling one it would hand the buffer to the next frame while messages still point into it, so the
    /// buffer is left to the garbage collector either way. (Received TCP frames each have a buffer of their own.)
    /// </summary>
    private static ArraySegment<byte> KeepBuffer(ref Msg msg)
    {
#pragma warning disable CS0618 // Msg.Data and Offset are deprecated in favour of spans; the array itself is kept here.
        return msg.Data is { } data ? new ArraySegment<byte>(data, msg.Offset, msg.Size) : ArraySegment<byte>.Empty;
#pragma warning restore CS0618
    }

    /// <summary>Acts on one frame from the ROUTER; true when it came from a connection with a session.</summary>
    private bool OnRouterFrame(byte[] identity, ArraySegment<byte> frame)
    {
        _framesReceived++;
        _bytesReceived += frame.Count;
        Telemetry.BytesReceived.Add(frame.Count, _nodeTag);
        if (Faults.TakeForgetSessions())
        {
            foreach (var r in _routes.Values.ToList()) DropRoute(r);
        }
        _routes.TryGetValue(identity, out var route);
        try
        {
            if (Secure) OnSecureRouterFrame(identity, frame, route);
            else OnPlainRouterFrame(identity, frame, route);
        }
        catch (ProtocolException e)
        {
            Reject(route?.Link.Name ?? RejectTally.Describe(identity, null), e.Message);
        }
        return route is not null;
    }

    /// <summary>
    /// A protocol 2 frame on the ROUTER. The header, the type and whether the connection has a session are checked
    /// first, without exceptions or allocation: a stranger's junk is dropped and counted here. Only what passes
    /// goes on to the handshake or to opening.
    /// </summary>
    private void OnSecureRouterFrame(byte[] identity, ArraySegment<byte> frame, RouterSession? route)
    {
        var reason = Wire.CheckEnvelope(frame, out var type);
        if (reason != RejectReason.None)
        {
            OnBadHeader(reason, identity, frame, route);
            return;
        }
        switch (type)
        {
            case FrameType.Hello:
                OnSecureHello(identity, frame);
                return;
            case FrameType.Handshake:
                if (!_pending.ContainsKey(identity))
                {
                    RejectFrame(RejectReason.NoHandshake, identity, route?.Link.Name);
                    return;
                }
                OnMessage3(identity, frame);
                return;
            case FrameType.Sealed:
                if (route is null)
                {
                    AskToStartOver(identity, RejectReason.NoSession);
                    return;
                }
                if (!route.Opener!.TryOpenInPlace(frame, Wire.HeaderSize, out var inner))
                {
                    // A frame that fails authentication ends that session; the peer must handshake again.
                    var peer = route.Link.Name;
                    DropRoute(route);
                    RejectFrame(RejectReason.Authentication, identity, peer);
                    AnswerReset(identity);
                    return;
                }
                OnRouterInner(route, inner);
                return;
            default:
                RejectFrame(RejectReason.WrongSocket, identity, route?.Link.Name);
                return;
        }
    }

    private void OnPlainRouterFrame(byte[] identity, ArraySegment<byte> frame, RouterSession? route)
    {
        var reason = Wire.CheckHeader(frame, out var type);
        if (reason != RejectReason.None)
        {
            OnBadHeader(reason, identity, frame, route);
            return;
        }
        if (type == FrameType.Hello)
        {
            OnPlainHello(identity, ControlFrames.ReadHello(frame));
            return;
        }
        if (route is null)
        {
            AskToStartOver(identity, RejectReason.NoSession);
            return;
        }
        OnRouterInner(route, frame);
    }

    /// <summary>A frame whose header failed the checks is dropped, but for a HELLO of the other protocol: that is
    /// refused with why (REFUSE 1), as far as the connection's HELLO budget allows.</summary>
    private void OnBadHeader(RejectReason reason, byte[] identity, ReadOnlySpan<byte> frame, RouterSession? route)
    {
        var other = Secure ? Wire.Version : Wire.SecureVersion;
        if (reason != RejectReason.BadVersion || frame[1] != other || frame[2] != (byte)FrameType.Hello)
        {
            RejectFrame(reason, identity, route?.Link.Name);
            return;
        }
        if (!TakeHelloBudget(identity)) return;
        if (Secure) Refuse(identity, RefuseCode.UnsupportedVersion, "this node requires encrypted links (protocol 2); the peer speaks plaintext protocol 1", "insecure node", other);
        else Refuse(identity, RefuseCode.UnsupportedVersion, "this node runs INSECURE (plaintext protocol 1) and cannot join an encrypted node", "secure node", other);
    }

    /// <summary>A connection that has not finished a handshake, or whose peer this node has since forgotten, is
    /// told RESET so that it starts over: once per connection and <see cref="MessengerNodeOptions.StrangerResetInterval"/>, as one
    /// new handshake answers every frame that met the forgotten session. Each frame is counted all the same.</summary>
    private void AskToStartOver(byte[] identity, RejectReason reason)
    {
        RejectFrame(reason, identity, null);
        if (_resetBudget.TryTake(identity, Environment.TickCount64)) SendReset(identity);
    }

    /// <summary>Answers RESET now, whatever was answered before (the session on that connection just ended).</summary>
    private void AnswerReset(byte[] identity)
    {
        _resetBudget.Forget(identity);
        _resetBudget.TryTake(identity, Environment.TickCount64);
        SendReset(identity);
    }

    private void SendReset(byte[] identity) => _router.SendMoreFrame(identity).SendFrame(Secure ? s_resetV2 : s_resetV1);

    /// <summary>Ends an inbound session (the data receiver may ask again for one it already dropped).</summary>
    private void DropRoute(RouterSession route)
    {
        ForgetRoute(route);
        if (!route.Link.Routes.Remove(route)) return;
        route.Dispose();
        // A data connection is acknowledged on its link session: it ends with it.
        foreach (var data in route.Link.Routes.Where(r => r.AcknowledgedOn == route).ToList()) DropRoute(data);
    }

    /// <summary>Takes the route out of the map of its socket: the ROUTER's, or the data receiver's. A routing id on
    /// one socket may also be in use on the other, so only this route is removed.</summary>
    private void ForgetRoute(RouterSession route)
    {
        if (route.OnDataReceiver) RemoveDataRoute(route);
        else if (_routes.TryGetValue(route.RoutingId, out var held) && held == route) _routes.Remove(route.RoutingId);
    }

    private void OnRouterInner(RouterSession route, ArraySegment<byte> frame)
    {
        var link = route.Link;
        var type = Wire.ReadHeader(frame);
        Touch(link);
        switch (type)
        {
            case FrameType.Data:
                var ackNow = DeliverBatch(link, frame, FrameType.Data, out var last);
                Acknowledge(link, route.AcknowledgedOn ?? route, last, ackNow);
                break;
            case FrameType.Ping:
                var stamp = ControlFrames.ReadTimestamped(frame);
                Reply(route, ControlFrames.Timestamped(FrameType.Pong, stamp));
                break;
            case FrameType.SubProbe:
                var token = ControlFrames.ReadSubProbe(frame);
                link.PeerProbeToken = token;
                // A peer probes only while its SUB does not hear us: one that did has made its subscription anew (its
                // link restarted). Our broadcasts count as reaching it again, and it as connected, at its SUB_READY.
                if (link.TheyHearOurBroadcast)
                {
                    StopCountingBroadcasts(link);
                    Evaluate(link, "its subscription is made again");
                    // Publishing may have waited for it alone.
                    if (_broadcastHeld) Guard("broadcast", FlushBroadcast, RestartPublisher);
                }
                var probe = ControlFrames.PubProbe(new PubProbeFrame(Id, link.Id, token, _broadcastWindow.LastPublished));
                Publish(probe, probe.Length);
                break;
            case FrameType.SubReady:
                ControlFrames.ReadEmpty(frame);
                link.ProbingForPublisher = false;
                if (!link.TheyHearOurBroadcast)
                {
                    link.TheyHearOurBroadcast = true;
                    Evaluate(link, "handshake complete");
                    StartCountingBroadcasts(link);
                }
                // Publishing may have waited for it to hear our new publisher.
                if (_broadcastHeld) Guard("broadcast", FlushBroadcast, RestartPublisher);
                break;
            case FrameType.Peers:
                MergePeers(ControlFrames.ReadPeers(frame));
                break;
            case FrameType.BroadcastAck:
                OnBroadcastAck(link, ControlFrames.ReadBroadcastAck(frame));
                break;
            case FrameType.Ack:
                // A leaving peer's, just before its LEAVE on the same connection.
                OnAcknowledged(link, ControlFrames.ReadAck(frame));
                break;
            case FrameType.Leave:
                var lastBroadcast = ControlFrames.ReadLeave(frame);
                // What it owes the peer first: else the leaving node counts what this one delivered as dropped.
                SendOwedAck(link);
                Reply(route, ControlFrames.Empty(FrameType.LeaveAck));
                OnLeaveClaim(link, lastBroadcast);
                RemoveLink(link, "left", raiseEvent: true);
                break;
            default:
                throw new ProtocolException($"{type} is not sent to a unicast socket");
        }
    }

    private void OnDealerReady(PeerLink link) =>
        ReadDealer(() => link.Session, link.Name, refused => OnLinkRefused(link, refused), inner => OnDealerInner(link, inner));

    /// <summary>The peer welcomed our session: what waited for it goes out, and the broadcast probes start.</summary>
    private void OnLinkWelcomed(PeerLink link)
    {
        if (link.Welcomed) return;
        link.Welcomed = true;
        link.Proven = true;
        link.IdentityProven = true;
        RestartProbes(link);
        if (link.Outbound.RequeueUnacknowledged() > 0) OweAckAgain(link);
        WithdrawTooLarge(link);
        FlushLink(link);
        SendProbeIfDue(link, Environment.TickCount64);
        // A session made again (the peer forgot the last one: a RESET) may have taken our SUB_READY with it, and
        // we no longer probe a peer we hear: said again on the new session.
        if (!link.Probing) SendOnLink(link, ControlFrames.Empty(FrameType.SubReady));
        // So may the BROADCAST_ACKs sent on the last session, and a broadcaster whose window is full would wait for
        // them until it left this node behind: the cumulative one again.
        if (link.SequenceState[1] > 0)
        {
            link.BroadcastFramesOwed = Math.Max(link.BroadcastFramesOwed, 1);
            SendBroadcastAck(link);
        }
        Evaluate(link, "handshake complete");
    }

    private void OnLinkRefused(PeerLink link, RefuseFrame refuse)
    {
        var code = refuse.Code.ToString();
        var level = OnceAMinute(LogLevel.Error, $"1201 {link.Name} {code}");
        Log.RefusedByPeer(_logger, level, link.Name, code, refuse.Reason);
        if (refuse.Code != RefuseCode.SelfConnection) _refusedUntil[link.Id] = Environment.TickCount64 + 5000;
        // Another process that holds this node's key says "a node connected to itself" as well: only an address of
        // this host at this node's port is this node.
        else if (IsOwnEndpoint(link.Address.Endpoint)) RememberOwnEndpoint(link.Address);
        RemoveLink(link, $"refused: {refuse.Reason}", raiseEvent: true);
    }

    private void OnDealerInner(PeerLink link, byte[] frame)
    {
        var type = Wire.ReadHeader(frame);
        switch (type)
        {
            case FrameType.Welcome:
                var welcome = ControlFrames.ReadWelcome(frame, Secure);
                if (welcome.Id != link.Id) throw new ProtocolException($"WELCOME from node {welcome.Id}, expected {link.Id}");
                if (Secure != (welcome.BroadcastKey is not null)) throw new ProtocolException("WELCOME without the broadcast key of protocol 2");
                SubscribeAtProvenPort(link, welcome.PublishPort);
                Touch(link);
                LearnMaxMessageSize(link, welcome.MaxMessageSize);
                if (welcome.BroadcastKey is not null) SetBroadcastKey(link, welcome.BroadcastKey, welcome.BroadcastCipher);
                OnLinkWelcomed(link);
                break;
            case FrameType.Ack:
                OnAcknowledged(link, ControlFrames.ReadAck(frame));
                break;
            case FrameType.Pong:
                var sent = ControlFrames.ReadTimestamped(frame);
                Touch(link);
                var micros = Wire.UnixMicros(DateTimeOffset.UtcNow) - sent;
                if (micros >= 0 && micros < 60_000_000) link.RoundTrip = TimeSpan.FromMicroseconds(micros);
                break;
            case FrameType.Peers:
                Touch(link);
                MergePeers(ControlFrames.ReadPeers(frame));
                break;
            case FrameType.LeaveAck:
                ControlFrames.ReadEmpty(frame);
                if (!link.AwaitingLeaveAck)
                {
                    // An unreachable peer's answer, which the leave does not wait for, is taken once it was asked.
                    // Any other, counted, would let this node's leave end before the peers it waits for had answered.
                    if (link.LeaveUnanswered && !_leavesWaiting.Contains(link)) link.LeaveUnanswered = false;
                    else Reject(link.Name, "LEAVE_ACK for no LEAVE");
                    break;
                }
                link.AwaitingLeaveAck = false;
                _leaveAcksPending--;
                FinishLeaveIfDone();
                break;
            case FrameType.Reset:
                ControlFrames.ReadEmpty(frame);
                link.Welcomed = false;
                // The peer may be a new process on the old address (protocol 1's WELCOME does not tell): until it
                // says again that it hears our broadcasts (SUB_READY, which it sends when it accepts our new
                // session, or when its probe is answered), the link does not count as up.
                StopCountingBroadcasts(link);
                // Nor do we know that our subscription reaches a new process's publisher: protocol 1 proves it again
                // (SUB_PROBE, then SUB_READY once its PUB_PROBE comes) rather than tell it so at once. Protocol 2's
                // WELCOME tells a new process by its broadcast key.
                if (!Secure) link.ProbeAgain = true;
                Evaluate(link, "the peer forgot the link's session");
                CloseData(link, "the peer forgot the link's session");
                // Every frame that met the forgotten session is answered RESET; one new handshake answers them all.
                if (link.Session is { Handshake: null } session) StartHandshake(session);
                break;
            default:
                throw new ProtocolException($"{type} is not an answer on a unicast link");
        }
    }

    /// <summary>Reads up to <see cref="MaxFramesPerWakeup"/> frames from the peer's publisher; returns how many.</summary>
    private int OnSubscriberReady(PeerLink link)
    {
        var msg = new Msg();
        var i = 0;
        for (; i < MaxFramesPerWakeup && link.Subscriber is { } subscriber; i++)
        {
            msg.InitEmpty();
            if (!subscriber.TryReceive(ref msg, TimeSpan.Zero))
            {
                msg.Close();
                return i;
            }
            var kept = false;
            try
            {
                if (msg.HasMore)
                {
                    subscriber.SkipMultipartMessage();
                    Reject(link.Name, "multipart broadcast");
                    continue;
                }
                if (Faults.TakeMissedBroadcastFrame()) continue;
                kept = true;
                var frame = KeepBuffer(ref msg);
                _framesReceived++;
                _bytesReceived += frame.Count;
                Telemetry.BytesReceived.Add(frame.Count, _nodeTag);
                OnSubscriberInner(link, Secure ? OpenBroadcast(link, frame) : frame);
            }
            catch (ProtocolException e)
            {
                Reject(link.Name, e.Message);
            }
            finally
            {
                if (!kept) msg.Close();
            }
        }
        return i;
    }

    private static ArraySegment<byte> OpenBroadcast(PeerLink link, ArraySegment<byte> frame)
    {
        if (Wire.ReadEnvelope(frame) != FrameType.SealedBroadcast) throw new ProtocolException("a broadcast socket carries only SEALED_BROADCAST");
        if (BatchReader.ReadSender(frame) != link.Id) throw new ProtocolException("broadcast names another sender than the node at that endpoint");
        var opener = link.BroadcastOpener ?? throw new ProtocolException("broadcast before the sender's key arrived");
        return opener.TryOpenInPlace(frame, Wire.HeaderSize + Wire.NodeIdSize, out var inner) ? inner
            : throw new ProtocolException("sealed broadcast truncated, replayed or failing authentication");
    }

    private void OnSubscriberInner(PeerLink link, ArraySegment<byte> frame)
    {
        var type = Wire.ReadHeader(frame);
        switch (type)
        {
            case FrameType.Broadcast:
                if (BatchReader.ReadSender(frame) != link.Id) throw new ProtocolException("broadcast names another sender than the node at that endpoint");
                if (!link.HearsTheirBroadcast) throw new ProtocolException("broadcast before the subscription was proven");
                Touch(link);
                DeliverBatch(link, frame, FrameType.Broadcast, out _);
                OweBroadcastAck(link);
                break;
            case FrameType.BroadcastTail:
                var tail = ControlFrames.ReadBroadcastTail(frame);
                if (tail.Sender != link.Id) throw new ProtocolException("BROADCAST_TAIL names another sender than the node at that endpoint");
                // Before the subscription is proven, what was published is not owed to this node.
                if (link.HearsTheirBroadcast) OnBroadcastTail(link, tail.Last);
                break;
            case FrameType.PubProbe:
                var probe = ControlFrames.ReadPubProbe(frame);
                if (probe.Target != Id) return; // a probe for another subscriber of that publisher
                if (probe.Sender != link.Id || probe.Token != link.ProbeToken) throw new ProtocolException("PUB_PROBE with an unknown sender or token");
                Touch(link);
                link.ProbeAgain = false;
                if (probe.LastPublished is { } lastPublished) StartCountingTheirBroadcasts(link, lastPublished);
                if (!link.HearsTheirBroadcast)
                {
                    link.HearsTheirBroadcast = true;
                    SendOnLink(link, ControlFrames.Empty(FrameType.SubReady));
                    Evaluate(link, "handshake complete");
                }
                else
                {
                    // The peer may have made its publisher anew and probe us again: said again, harmless otherwise.
                    SendOnLink(link, ControlFrames.Empty(FrameType.SubReady));
                }
                break;
            default:
                throw new ProtocolException($"{type} is not sent on a broadcast socket");
        }
    }

    /// <summary>Delivers a batch's new records (after the acknowledgement a DATA frame carries); true when one of them
    /// asks to be acknowledged at once, and the highest sequence number delivered from that stream since.</summary>
    private bool DeliverBatch(PeerLink link, ArraySegment<byte> frame, FrameType type, out long last)
    {
        _records.Clear();
        var acknowledged = BatchReader.Read(frame, type, _records);
        if (acknowledged > 0)
        {
            // Our DATA, acknowledged in the peer's own: taken before its messages are delivered, so that a reader
            // who answers at once finds the link idle and sends on its own thread.
            OnAcknowledged(link, acknowledged);
        }
        var kind = type == FrameType.Data ? MessageKind.Unicast : MessageKind.Broadcast;
        var delivered = QueueNewRecords(link, null, kind, _records, _deliveries, refuseGap: false, out var ackNow, out var duplicates, out var missed, out last);
        if (delivered < 0)
        {
            RejectFrame(RejectReason.NoSession, null, link.Name);
            return false;
        }
        for (var i = 0; i < duplicates; i++) RejectFrame(RejectReason.Duplicate, null, link.Name);
        if (missed > 0) OnBroadcastsMissed(link, missed);
        _messagesReceived += delivered;
        Telemetry.MessagesReceived.Add(delivered, _nodeTag);
        return ackNow;
    }

    /// <summary>Queues for the reader the records whose sequence numbers are new, in order, and returns how many it
    /// handed to the receive queue (a full one drops by its mode, and counts what it drops). The poller and the data
    /// receiver both deliver a peer's unicast (while a link moves its DATA from one connection to the other, the same
    /// frame may come on both), so the check and the queueing happen under the link's delivery gate. <paramref name="last"/> is the highest sequence number delivered since. A record
    /// over this node's MaxMessageSize takes its sequence number but is dropped, counted and raised. With
    /// <paramref name="refuseGap"/>, a frame whose first new record is not the next of the stream delivers nothing
    /// and returns -1. A frame from <paramref name="from"/>, a data connection's session, is dropped (-2) when the
    /// session has ended meanwhile (the poller ends sessions before it resets the counts), and so is unicast from a
    /// peer this leaving node has sent its final ACK.</summary>
    private int QueueNewRecords(PeerLink link, RouterSession? from, MessageKind kind, List<BatchRecord> records, List<MessengerMessage> deliveries, bool refuseGap, out bool ackNow, out int duplicates, out long missed, out long last)
    {
        var origin = new MessengerMessage.Origin(link.Name, link.IdText, Name, kind, DateTime.UtcNow);
        ackNow = false;
        duplicates = 0;
        missed = 0;
        List<MessengerMessage>? tooLarge = null;
        int delivered;
        lock (link.DeliveryGate)
        {
            ref var highest = ref link.SequenceState[kind == MessageKind.Unicast ? 0 : 1];
            deliveries.Clear();
            if (from is { IsDisposed: true } || (kind == MessageKind.Unicast && link.UnicastClosed))
            {
                last = highest;
                return -2;
            }
            if (refuseGap && FirstNew(records, highest) is var first && first > highest + 1)
            {
                last = highest;
                return -1;
            }
            foreach (var r in records)
            {
                ackNow |= r.AckNow;
                if (r.Sequence <= highest)
                {
                    duplicates++;
                    continue;
                }
                // Unicast has no gaps (what is not acknowledged is sent again); a broadcast stream does where frames
                // never reached us. Its count starts where the peer's PUB_PROBE said the stream stood, or else at
                // the first broadcast heard from it.
                if (kind == MessageKind.Broadcast && (highest > 0 || link.CountsTheirBroadcasts)) missed += r.Sequence - highest - 1;
                highest = r.Sequence;
                // Its sender reported it: nothing was lost here.
                if (r.Withdrawn) continue;
                var message = new MessengerMessage(origin, r.Topic, r.ContentType, r.Body, r.Sequence, Wire.UtcFromUnixMicros(r.SentAtMicros));
                if (r.Body.Length > _options.MaxMessageSize)
                {
                    // Its sequence number is taken (it is no gap, and is acknowledged), but it is not delivered.
                    (tooLarge ??= []).Add(message);
                    continue;
                }
                deliveries.Add(message);
            }
            last = highest;
            // Received, whatever the full queue's mode then drops (it counts those itself).
            delivered = deliveries.Count;
            _received.Write(deliveries);
            deliveries.Clear();
        }
        if (tooLarge is not null) foreach (var m in tooLarge) OnTooLargeDropped(m);
        return delivered;

        static long FirstNew(List<BatchRecord> records, long highest)
        {
            foreach (var r in records)
            {
                if (r.Sequence > highest) return r.Sequence;
            }
            return highest;
        }
    }

    /// <summary>A message whose body is over this node's MaxMessageSize: a peer that knows the limit (from this
    /// node's WELCOME) refuses to send one, so it comes only from a sender that queued it before, or a broken one.
    /// The poller or the data receiver.</summary>
    private void OnTooLargeDropped(MessengerMessage message)
    {
        CountDropped(1, "too large");
        Log.TooLargeDropped(_logger, message.From, message.Body.Length, _options.MaxMessageSize);
        RaiseDropped(message, $"body of {message.Body.Length} bytes over MaxMessageSize ({_options.MaxMessageSize})", $"bodies over MaxMessageSize ({_options.MaxMessageSize})");
    }

    private void OnReceiveDropped(MessengerMessage message)
    {
        CountDropped(1, "receive queue full");
        RaiseDropped(message, "receive queue full", "receive queue full");
    }

    private void CountDropped(long count, string reason)
    {
        Interlocked.Add(ref _messagesDropped, count);
        Telemetry.MessagesDropped.Add(count, _nodeTag, new("reason", reason));
    }

    /// <summary>A frame that failed the full validation of its fields: counted, and logged at debug level with
    /// why (event 1300). Rare: the cheap checks of <see cref="RejectFrame"/> stop junk
    /// before it gets this far.</summary>
    private void Reject(string source, string reason)
    {
        CountRejected(RejectReason.Invalid, null, source);
        Log.FrameRejected(_logger, source, reason);
    }

    /// <summary>Counts a rejected frame in <c>messenger.frames.rejected</c> (tag <c>reason</c>) and in the second's
    /// summary (log event 1302); the first of each second is also logged at debug level (event 1300). Nothing is
    /// formatted per frame.</summary>
    private void RejectFrame(RejectReason reason, byte[]? connection, string? peer)
    {
        if (CountRejected(reason, connection, peer) && _logger.IsEnabled(LogLevel.Debug))
            Log.FrameRejected(_logger, RejectTally.Describe(connection, peer), RejectReasons.Tag(reason));
    }

    /// <summary>True when this is the first reject of the tally's window.</summary>
    private bool CountRejected(RejectReason reason, byte[]? connection, string? peer)
    {
        _framesRejected++;
        Telemetry.FramesRejected.Add(1, _nodeTag, new("reason", RejectReasons.Tag(reason)));
        return _rejects.Add(reason, connection, peer, Environment.TickCount64);
    }
}
