using Messenger.Internal;
using Messenger.Protocol;
using NetMQ;

namespace Messenger.Transport;

// Frames arriving on the ROUTER (from peers' DEALERs), on our DEALERs (answers) and on the SUB (broadcasts).
internal sealed partial class NodeRuntime
{
    private void OnRouterReady()
    {
        for (var i = 0; i < MaxFramesPerWakeup && _router.TryReceiveFrameBytes(out var identity, out var more); i++)
        {
            if (!more)
            {
                Reject("unicast", "frame without routing id");
                continue;
            }
            var frame = _router.ReceiveFrameBytes(out more);
            if (more)
            {
                _router.SkipMultipartMessage();
                Reject("unicast", "multipart message");
                continue;
            }
            _framesReceived++;
            _bytesReceived += frame.Length;
            Telemetry.BytesReceived.Add(frame.Length, _nodeTag);
            _routes.TryGetValue(identity, out var link);
            try
            {
                OnRouterFrame(identity, frame, link);
            }
            catch (ProtocolException e)
            {
                Reject(link?.Name ?? "unknown connection", e.Message);
            }
        }
    }

    private void OnRouterFrame(byte[] identity, byte[] frame, PeerLink? link)
    {
        var type = Wire.ReadHeader(frame);
        if (type == FrameType.Hello)
        {
            OnHello(identity, ControlFrames.ReadHello(frame));
            return;
        }
        if (link is null)
        {
            // A connection that has not said HELLO, or whose peer this node has since forgotten: ask it to start over.
            Reject("unknown connection", $"{type} before HELLO");
            _router.SendMoreFrame(identity).SendFrame(ControlFrames.Empty(FrameType.Reset));
            return;
        }
        Touch(link);
        switch (type)
        {
            case FrameType.Data:
                DeliverBatch(link, frame, FrameType.Data);
                break;
            case FrameType.Ping:
                var stamp = ControlFrames.ReadTimestamped(frame);
                _router.SendMoreFrame(identity).SendFrame(ControlFrames.Timestamped(FrameType.Pong, stamp));
                break;
            case FrameType.SubProbe:
                var token = ControlFrames.ReadSubProbe(frame);
                _publisher.SendFrame(ControlFrames.PubProbe(new PubProbeFrame(Id, link.Id, token)));
                break;
            case FrameType.SubReady:
                ControlFrames.ReadEmpty(frame);
                if (!link.TheyHearOurBroadcast)
                {
                    link.TheyHearOurBroadcast = true;
                    Evaluate(link, "handshake complete");
                }
                break;
            case FrameType.Peers:
                MergePeers(ControlFrames.ReadPeers(frame));
                break;
            case FrameType.Leave:
                ControlFrames.ReadEmpty(frame);
                _router.SendMoreFrame(identity).SendFrame(ControlFrames.Empty(FrameType.LeaveAck));
                RemoveLink(link, "left", raiseEvent: true);
                break;
            default:
                throw new ProtocolException($"{type} is not sent to a unicast socket");
        }
    }

    private void OnHello(byte[] identity, HelloFrame hello)
    {
        string? refusal = null;
        var code = RefuseCode.Malformed;
        if (hello.Cluster != _options.Cluster) (code, refusal) = (RefuseCode.WrongCluster, $"this node is in cluster '{_options.Cluster}', not '{hello.Cluster}'");
        else if (hello.Id == Id) (code, refusal) = (RefuseCode.SelfConnection, "a node cannot join itself");
        else if (hello.Name == Name) (code, refusal) = (RefuseCode.NameInUse, $"the name '{Name}' is taken by this node");
        else if (_byName.TryGetValue(hello.Name, out var holder) && holder.Id != hello.Id && holder.State is PeerState.Connected)
            (code, refusal) = (RefuseCode.NameInUse, $"the name '{hello.Name}' is taken by node {holder.Id}");

        if (refusal is not null)
        {
            _handshakesRefused++;
            Telemetry.HandshakesRefused.Add(1, _nodeTag, new("reason", code.ToString()));
            if (code != RefuseCode.SelfConnection) Log.HelloRefused(_logger, hello.Name, hello.Id.ToString(), refusal);
            _router.SendMoreFrame(identity).SendFrame(ControlFrames.Refuse(new RefuseFrame(code, refusal)));
            return;
        }

        var link = _peers.TryGetValue(hello.Id, out var known)
            ? known
            : Discover(hello.Id, hello.Name, new PeerAddress(hello.Host, hello.Port, hello.PublishPort), "hello");
        if (link is null) return;
        if (!_routes.ContainsKey(identity))
        {
            _routes[identity] = link;
            link.Routes.Add(identity);
        }
        Touch(link);
        _router.SendMoreFrame(identity).SendFrame(ControlFrames.Welcome(new WelcomeFrame(Id, Name, Port, PublishPort)));
        _router.SendMoreFrame(identity).SendFrame(PeersFrame(except: link));
    }

    private void OnDealerReady(PeerLink link)
    {
        var dealer = link.Dealer;
        for (var i = 0; dealer is not null && i < MaxFramesPerWakeup && dealer.TryReceiveFrameBytes(out var frame, out var more); i++)
        {
            if (more)
            {
                dealer.SkipMultipartMessage();
                Reject(link.Name, "multipart message");
                continue;
            }
            try
            {
                OnDealerFrame(link, frame);
            }
            catch (ProtocolException e)
            {
                Reject(link.Name, e.Message);
            }
            dealer = link.Dealer; // the frame may have removed the link
        }
    }

    private void OnDealerFrame(PeerLink link, byte[] frame)
    {
        var type = Wire.ReadHeader(frame);
        switch (type)
        {
            case FrameType.Welcome:
                var welcome = ControlFrames.ReadWelcome(frame);
                if (welcome.Id != link.Id) throw new ProtocolException($"WELCOME from node {welcome.Id}, expected {link.Id}");
                Touch(link);
                if (!link.Welcomed)
                {
                    link.Welcomed = true;
                    link.LastProbeSent = long.MinValue / 2;
                    FlushLink(link);
                    SendProbeIfDue(link, Environment.TickCount64);
                }
                break;
            case FrameType.Refuse:
                var refuse = ControlFrames.ReadRefuse(frame);
                Log.RefusedByPeer(_logger, link.Name, refuse.Code.ToString(), refuse.Reason);
                if (refuse.Code != RefuseCode.SelfConnection) _refusedUntil[link.Id] = Environment.TickCount64 + 5000;
                RemoveLink(link, $"refused: {refuse.Reason}", raiseEvent: true);
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
                _leaveAcksPending--;
                FinishLeaveIfDone();
                break;
            case FrameType.Reset:
                ControlFrames.ReadEmpty(frame);
                link.Welcomed = false;
                SendHello(link);
                break;
            default:
                throw new ProtocolException($"{type} is not an answer on a unicast link");
        }
    }

    private void OnSubscriberReady()
    {
        for (var i = 0; i < MaxFramesPerWakeup && _subscriber.TryReceiveFrameBytes(out var frame, out var more); i++)
        {
            if (more)
            {
                _subscriber.SkipMultipartMessage();
                Reject("broadcast", "multipart message");
                continue;
            }
            _framesReceived++;
            _bytesReceived += frame.Length;
            Telemetry.BytesReceived.Add(frame.Length, _nodeTag);
            try
            {
                OnSubscriberFrame(frame);
            }
            catch (ProtocolException e)
            {
                Reject("broadcast", e.Message);
            }
        }
    }

    private void OnSubscriberFrame(byte[] frame)
    {
        var type = Wire.ReadHeader(frame);
        switch (type)
        {
            case FrameType.Broadcast:
                var sender = BatchReader.ReadSender(frame);
                if (!_peers.TryGetValue(sender, out var link) || !link.HearsTheirBroadcast)
                    throw new ProtocolException($"broadcast from node {sender}, which is not a linked peer");
                Touch(link);
                DeliverBatch(link, frame, FrameType.Broadcast);
                break;
            case FrameType.PubProbe:
                var probe = ControlFrames.ReadPubProbe(frame);
                if (probe.Target != Id) return; // a probe for another subscriber of that publisher
                if (!_peers.TryGetValue(probe.Sender, out var prober) || probe.Token != prober.ProbeToken)
                    throw new ProtocolException("PUB_PROBE with an unknown sender or token");
                Touch(prober);
                if (!prober.HearsTheirBroadcast)
                {
                    prober.HearsTheirBroadcast = true;
                    prober.Dealer?.TrySendFrame(ControlFrames.Empty(FrameType.SubReady));
                    Evaluate(prober, "handshake complete");
                }
                break;
            default:
                throw new ProtocolException($"{type} is not sent on a broadcast socket");
        }
    }

    private void DeliverBatch(PeerLink link, byte[] frame, FrameType type)
    {
        BatchReader.Validate(frame, type, _options.MaxMessageSize);
        _records.Clear();
        BatchReader.Read(frame, type, _records);
        var now = DateTimeOffset.UtcNow;
        var kind = type == FrameType.Data ? MessageKind.Unicast : MessageKind.Broadcast;
        var id = link.Id.ToString();
        var delivered = 0;
        foreach (var r in _records)
        {
            ref var last = ref kind == MessageKind.Unicast ? ref LastUnicast(link) : ref LastBroadcast(link);
            if (r.Sequence <= last)
            {
                Reject(link.Name, $"duplicate sequence {r.Sequence}");
                continue;
            }
            last = r.Sequence;
            var message = new MessengerMessage
            {
                From = link.Name,
                FromId = id,
                To = Name,
                Topic = r.Topic,
                Kind = kind,
                ContentType = r.ContentType,
                Body = r.Body,
                Sequence = r.Sequence,
                SentAt = Wire.FromUnixMicros(r.SentAtMicros),
                ReceivedAt = now,
            };
            if (_received.Writer.TryWrite(message)) delivered++;
        }
        _messagesReceived += delivered;
        Telemetry.MessagesReceived.Add(delivered, _nodeTag);
    }

    private static ref long LastUnicast(PeerLink link) => ref link.SequenceState[0];
    private static ref long LastBroadcast(PeerLink link) => ref link.SequenceState[1];

    private void OnReceiveDropped(MessengerMessage message)
    {
        CountDropped(1, "receive queue full");
        if (MessageDropped is not null) Raise(() => MessageDropped?.Invoke(this, new MessageDroppedEventArgs(message, message.From, "receive queue full")));
    }

    private void CountDropped(long count, string reason)
    {
        Interlocked.Add(ref _messagesDropped, count);
        Telemetry.MessagesDropped.Add(count, _nodeTag, new("reason", reason));
    }

    private void Reject(string source, string reason)
    {
        _framesRejected++;
        Telemetry.FramesRejected.Add(1, _nodeTag);
        Log.FrameRejected(_logger, source, reason);
    }
}
