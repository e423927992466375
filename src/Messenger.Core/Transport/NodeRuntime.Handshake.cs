using Messenger.Internal;
using Messenger.Protocol;
using Messenger.Security;
using Messenger.Security.Noise;
using Microsoft.Extensions.Logging;
using NetMQ;

namespace Messenger.Transport;

// The handshake of each unicast connection and the sealing of what follows it (docs/PROTOCOL.md, "Protocol 2").
// Initiator: our DEALER (HELLO with Noise message 1, then message 3). Responder: our ROUTER (message 2, then WELCOME).
internal sealed partial class NodeRuntime
{
    private double _handshakeTokens;
    private long _handshakeTokensAt;
    // Per connection: MessengerNodeOptions.HelloBurstPerConnection and HelloIntervalPerConnection.
    private readonly SourceBudget _helloBudget;
    private byte[]? _clusterUtf8;
    private object? _budgetsRouter;

    private bool Secure => !_options.Insecure;

    /// <summary>Protocol 1: this node's incarnation, in every HELLO it sends (protocol 2's is its broadcast key).</summary>
    private readonly Guid _incarnation = Guid.NewGuid();

    /// <summary>Sends HELLO on a connection: a fresh handshake in protocol 2, the plain greeting in protocol 1.</summary>
    private void StartHandshake(DealerSession session)
    {
        session.LastHelloSent = Environment.TickCount64;
        if (!Secure)
        {
            // One token per connection: a HELLO sent again names the same session, so that a data connection opened
            // on the WELCOME to an earlier one is not refused for naming a later one.
            var token = session.HandshakeHash is { Length: 16 } held ? new Guid(held) : Guid.NewGuid();
            session.Establish(null, NoiseCipher.ChaChaPoly, token.ToByteArray());
            Guid? link = session.DataFor is { } dataFor ? new Guid(dataFor) : null;
            session.Dealer.TrySendFrame(ControlFrames.Hello(new HelloFrame(_options.Cluster, Id, Name, AdvertisedHost, Port, PublishPort, _incarnation, token, link)));
            return;
        }
        session.Reset();
        session.Handshake = _security.NewInitiator();
        session.Dealer.TrySendFrame(ControlFrames.SecureHello(_options.Cluster, session.Handshake.WriteMessage([])));
    }

    /// <summary>
    /// Handles what arrives on one of our DEALERs below the application: REFUSE, RESET, the handshake's message 2
    /// (answered with message 3) and the opening of sealed frames. Returns the inner frame to act on, or null when
    /// the frame was consumed here.
    /// </summary>
    private byte[]? OpenDealerFrame(DealerSession session, byte[] frame, string who, Action<RefuseFrame> refused)
    {
        if (Wire.IsRefuse(frame))
        {
            refused(ControlFrames.ReadRefuse(frame));
            return null;
        }
        if (!Secure) return frame;

        switch (Wire.ReadEnvelope(frame))
        {
            case FrameType.Sealed:
                if (session.Opener is null) throw new ProtocolException("sealed frame before the handshake finished");
                return session.Opener.Open(frame, Wire.HeaderSize);
            case FrameType.Reset:
                // The owner decides: a peer link forgets it was welcomed (and sends its unacknowledged frames again
                // after the new handshake), a seed link just greets again.
                ControlFrames.ReadEmpty(frame);
                return ControlFrames.Empty(FrameType.Reset);
            case FrameType.Handshake:
                AnswerMessage2(session, ControlFrames.ReadHandshake(frame), who);
                return null;
            default:
                throw new ProtocolException($"{(FrameType)frame[2]} is not sent to a DEALER");
        }
    }

    /// <summary>Reads what waits on one of our DEALERs, up to <see cref="MaxFramesPerWakeup"/> frames, while
    /// <paramref name="current"/> gives a session (null: a frame handed the connection on, stop): a multipart message is
    /// dropped, each frame is opened with <see cref="OpenDealerFrame"/>, and what is left goes to <paramref name="act"/>.
    /// A malformed frame is counted and logged, and the next one read.</summary>
    private void ReadDealer(Func<DealerSession?> current, string who, Action<RefuseFrame> refused, Action<byte[]> act)
    {
        for (var i = 0; i < MaxFramesPerWakeup && current() is { } session && session.Dealer.TryReceiveFrameBytes(out var frame, out var more); i++)
        {
            if (more)
            {
                session.Dealer.SkipMultipartMessage();
                Reject(who, "multipart message");
                continue;
            }
            try
            {
                if (OpenDealerFrame(session, frame, who, refused) is { } inner) act(inner);
            }
            catch (ProtocolException e)
            {
                Reject(who, e.Message);
            }
        }
    }

    private void AnswerMessage2(DealerSession session, byte[] message, string who)
    {
        var handshake = session.Handshake ?? throw new ProtocolException("handshake message with no handshake under way");
        string? failure = null;
        var fatal = false; // not allowed, or this node: not worth another try
        var someoneElse = false; // another node answers at the address, or the node under another name
        var misnamed = false;
        var itself = false; // this node's own ROUTER answered: the address is this node's
        try
        {
            var payload = ControlFrames.ReadPayload(handshake.ReadMessage(message), withKey: false);
            var remote = handshake.RemoteStaticPublicKey;
            var id = NodeId.FromPublicKey(remote);
            itself = id == Id && payload.Name == Name && payload.Port == Port;
            if (session.ExpectedId is { } expected && expected != id) (failure, someoneElse) = ($"it proved to be node {id}, not {expected}", true);
            else if (!_security.IsAllowed(remote)) failure = $"its key {Convert.ToBase64String(remote)} is not on the allowlist";
            else if (id == Id)
            {
                // This node at a seed endpoint of its own is quiet; another process with this node's key is not.
                if (payload.Name == Name && payload.Port == Port && _seeds.Values.FirstOrDefault(s => s.Session == session) is { } self)
                {
                    session.Reset();
                    OnSeedIsThisNode(self);
                    return;
                }
                failure = "it is this node's key";
            }
            else if (session.ExpectedId is not null && _peers.TryGetValue(id, out var named) && !named.IdentityProven && named.Name != payload.Name)
            {
                // A beacon or PEERS list gave the node a name that is not its own.
                (failure, someoneElse, misnamed) = ($"it is named '{payload.Name}', not '{named.Name}'", true, true);
            }
            fatal = failure is not null && !someoneElse;
            if (failure is null)
            {
                var reply = handshake.WriteMessage(ControlFrames.Payload(new HandshakePayload(Name, AdvertisedHost, Port, PublishPort, _security.BroadcastKey, session.DataFor, _security.Cipher)));
                session.Dealer.TrySendFrame(ControlFrames.Handshake(reply));
                session.Establish(handshake.ToTransport(), DataCipher.Negotiate(_security.Cipher, payload.Cipher));
                session.ProvenId = id;
                return;
            }
        }
        catch (NoiseException e)
        {
            failure = e.Message;
        }
        catch (ProtocolException e)
        {
            failure = e.Message;
        }
        session.Reset();
        CountRefused("handshake-failed");
        Log.HandshakeFailed(_logger, who, failure);
        // A message 2 that does not decrypt may answer an earlier HELLO of ours: the HELLO timer tries again. So does a
        // link whose node proved who it is, when another node answers at its address: that says nothing of the node
        // itself (any host can announce a node's id in a beacon, and a port is taken again after a restart). A link
        // never proven is dropped, and found again by beacon or PEERS list only after a while; the node's own HELLO is
        // let in meanwhile.
        if ((fatal || someoneElse) && session.ExpectedId is { } bad && _peers.TryGetValue(bad, out var link) && !(someoneElse && link.IdentityProven))
        {
            if (itself) RememberOwnEndpoint(link.Address);
            // Misnamed, it is the node all the same: its own beacon may make the link again at once.
            if (!misnamed) _refusedUntil[bad] = Environment.TickCount64 + 5000;
            RemoveLink(link, $"handshake failed: {failure}", raiseEvent: true);
        }
    }

    /// <summary>
    /// Protocol 2 HELLO on our ROUTER: a stranger starts a handshake. Checked from the cheapest to the dearest: its
    /// structure (no exception, no allocation), then the connection's own HELLO budget (so that one connection's
    /// flood cannot use up the node's), the cluster name, Noise message 1 (so that junk does not use up the node's
    /// budget either: the node-wide rate is taken only for a message that verifies); bounded in number and age of
    /// pending handshakes.
    /// </summary>
    private void OnSecureHello(byte[] identity, ReadOnlySpan<byte> frame)
    {
        if (!ControlFrames.TryReadSecureHello(frame, out var cluster, out var message))
        {
            RejectFrame(RejectReason.MalformedHello, identity, null);
            return;
        }
        if (!TakeHelloBudget(identity)) return;
        if (!cluster.SequenceEqual(_clusterUtf8 ??= System.Text.Encoding.UTF8.GetBytes(_options.Cluster)))
        {
            Refuse(identity, RefuseCode.WrongCluster, $"this node is in cluster '{_options.Cluster}', not '{System.Text.Encoding.ASCII.GetString(cluster)}'", "unknown", Wire.SecureVersion);
            return;
        }
        // The node-wide rate is looked at before any cryptography (a refusal for rate costs nothing), but taken only
        // for a Noise message 1 that verifies: junk does not use it up.
        if (!HasHandshakeToken())
        {
            CountSilentRefusal("rate-limited");
            return;
        }
        var responder = _security.NewResponder();
        try
        {
            try
            {
                responder.ReadMessage(message);
            }
            catch (NoiseException)
            {
                RejectFrame(RejectReason.BadHandshake, identity, null);
                return;
            }
            _handshakeTokens--;
            if (_pending.Remove(identity, out var previous))
            {
                // A second HELLO on one connection abandons the first handshake.
                previous.Dispose();
                CountSilentRefusal("superseded");
            }
            else if (_pending.Count >= _options.MaxPendingHandshakes)
            {
                var oldest = _pending.Values.MinBy(p => p.StartedAt)!;
                _pending.Remove(oldest.RoutingId);
                oldest.Dispose();
                CountSilentRefusal("pending-limit");
            }
            var reply = responder.WriteMessage(ControlFrames.Payload(new HandshakePayload(Name, AdvertisedHost, Port, PublishPort, null, null, _security.Cipher)));
            _pending[identity] = new PendingHandshake(identity, responder, Environment.TickCount64);
            responder = null;
            _router.SendMoreFrame(identity).SendFrame(ControlFrames.Handshake(reply));
        }
        catch (NoiseException e)
        {
            throw new ProtocolException($"handshake message 1: {e.Message}");
        }
        finally
        {
            responder?.Dispose();
        }
    }

    /// <summary>Takes a HELLO from the connection's own budget; when it has none left, the HELLO is counted as
    /// refused (<c>source-rate-limited</c>) and not answered.</summary>
    private bool TakeHelloBudget(byte[] identity)
    {
        if (_helloBudget.TryTake(identity, Environment.TickCount64)) return true;
        CountSilentRefusal("source-rate-limited");
        return false;
    }

    /// <summary>Handshake message 3 on our ROUTER: the initiator proves its key and the cluster key.</summary>
    private void OnMessage3(byte[] identity, ReadOnlySpan<byte> frame)
    {
        if (!_pending.Remove(identity, out var pending)) throw new ProtocolException("handshake message 3 without a HELLO");
        using (pending)
        {
            HandshakePayload payload;
            try
            {
                payload = ControlFrames.ReadPayload(pending.State.ReadMessage(ControlFrames.ReadHandshake(frame)), withKey: true);
            }
            catch (NoiseException)
            {
                Refuse(identity, RefuseCode.ClusterKeyMismatch, "handshake failed: the cluster key does not match this node's (or the handshake was tampered with)", "unknown", Wire.SecureVersion);
                return;
            }
            var remote = pending.State.RemoteStaticPublicKey;
            var id = NodeId.FromPublicKey(remote);
            if (!_security.IsAllowed(remote))
            {
                Refuse(identity, RefuseCode.NotAllowed, $"the key {Convert.ToBase64String(remote)} of '{payload.Name}' is not on this node's allowlist", payload.Name, Wire.SecureVersion);
                return;
            }
            var transport = pending.State.ToTransport();
            var cipher = DataCipher.Negotiate(_security.Cipher, payload.Cipher);
            var sealer = FrameSealer.ForSession(transport.SendCipher, cipher);
            var opener = FrameOpener.ForSession(transport.ReceiveCipher, cipher);
            var session = new AcceptedSession(sealer, opener, transport.HandshakeHash.ToArray(), payload.DataFor);
            if (!AcceptSession(identity, id, payload.Name, new PeerAddress(payload.Host, payload.Port, payload.PublishPort), session, payload.BroadcastKey, payload.Cipher))
            {
                sealer.Dispose();
                opener.Dispose();
            }
        }
    }

    /// <summary>Protocol 1 HELLO on our ROUTER (insecure mode): the identity is claimed, not proven.</summary>
    private void OnPlainHello(byte[] identity, HelloFrame hello)
    {
        if (hello.Cluster != _options.Cluster)
        {
            Refuse(identity, RefuseCode.WrongCluster, $"this node is in cluster '{_options.Cluster}', not '{hello.Cluster}'", hello.Name, Wire.Version);
            return;
        }
        var session = new AcceptedSession(null, null, hello.Session.ToByteArray(), hello.DataFor?.ToByteArray(), hello.Incarnation);
        AcceptSession(identity, hello.Id, hello.Name, new PeerAddress(hello.Host, hello.Port, hello.PublishPort), session, null, NoiseCipher.ChaChaPoly);
    }

    /// <summary>A peer holds at most this many link sessions with this node at once: its link's, and its seed's
    /// greeting.</summary>
    private const int MaxLinkSessionsPerPeer = 2;

    /// <summary>Older link sessions than <see cref="MaxLinkSessionsPerPeer"/> belong to connections the peer replaced
    /// (its link restarted, or ZeroMQ connected it again under a new routing id), which say nothing when they go:
    /// they are dropped, with their data connections, so that a peer's reconnections leave nothing behind. One still
    /// in use would be answered RESET at its next frame, and greet again.</summary>
    private void DropReplacedSessions(PeerLink link)
    {
        var sessions = link.Routes.Where(r => !r.IsData).ToList();
        for (var i = 0; i < sessions.Count - MaxLinkSessionsPerPeer; i++) DropRoute(sessions[i]);
    }

    /// <summary>What the responder holds of an accepted connection: the keys of a finished protocol 2 handshake
    /// (none in protocol 1), the hash or token that names the session, for a data connection its link's, and in
    /// protocol 1 the peer's incarnation (protocol 2 tells one by the broadcast key).</summary>
    private sealed record AcceptedSession(FrameSealer? Sealer, FrameOpener? Opener, byte[] HandshakeHash, byte[]? DataFor, Guid PlainIncarnation = default);

    /// <summary>Binds an inbound connection to the node it proved to be (after the checks every protocol makes), and
    /// answers WELCOME and PEERS on it (WELCOME alone on a data connection). Returns false when the node was refused.</summary>
    private bool AcceptSession(byte[] identity, NodeId id, string name, PeerAddress address, AcceptedSession? session, byte[]? broadcastKey, NoiseCipher broadcastCipher)
    {
        var version = Secure ? Wire.SecureVersion : Wire.Version;
        string? refusal = null;
        var code = RefuseCode.Malformed;
        if (id == Id) (code, refusal) = (RefuseCode.SelfConnection, "a node cannot join itself");
        else if (broadcastKey is not null && !DataCipher.IsSupported(broadcastCipher)) refusal = UnsupportedBroadcastCipher(broadcastCipher);
        else if (name == Name) (code, refusal) = (RefuseCode.NameInUse, $"the name '{Name}' is taken by this node");
        else if (_byName.TryGetValue(name, out var holder) && holder.Id != id && !CanTakeName(holder))
            (code, refusal) = (RefuseCode.NameInUse, $"the name '{name}' is taken by node {holder.Id}");
        if (refusal is not null)
        {
            Refuse(identity, code, refusal, name, version);
            return false;
        }

        string? unreachable = null;
        // A link never proven, under another name, was named by a beacon or PEERS list: the node proves its own.
        if (_peers.TryGetValue(id, out var known) && known.Name != name && !known.IdentityProven)
        {
            RemoveLink(known, $"it proved to be named '{name}'", raiseEvent: false);
            known = null;
        }
        var link = known ?? Discover(id, name, address, "hello", out unreachable);
        if (link is null)
        {
            var (why, text) = unreachable is not null
                ? (RefuseCode.Busy, $"cannot connect back to {address.Endpoint}, the address given in the handshake: {unreachable}; try again later")
                : _peers.Count >= _options.MaxPeers
                ? (RefuseCode.TooManyPeers, $"this node has its maximum of {_options.MaxPeers} peers")
                : (RefuseCode.Busy, "this node is stopping");
            Refuse(identity, why, text, name, version);
            return false;
        }
        if (link.Name != name)
        {
            Refuse(identity, RefuseCode.IdentityMismatch, $"node {id} is known here as '{link.Name}'", name, version);
            return false;
        }
        link.IdentityProven = true;
        // A peer restarted with its key on other ports, heard from before this node noticed its old process die
        // (its frames keep the link alive), or before a link made to the old process from a PEERS list was ever
        // welcomed: the link's sockets still point at the old process. A PEERS entry holds the ports the node itself
        // gave, so other ports are another process; another host alone may be this one named otherwise (a host on two
        // subnets), and a seed's endpoint is the operator's (a port mapped in front of the node), so neither moves.
        if (session?.DataFor is null && link.Address != address
            && (IsNewIncarnation(link, broadcastKey, session?.PlainIncarnation ?? default)
                || (!link.Proven && link.DiscoveredBy == "membership" && !SamePorts(link.Address, address))))
            Readdress(link, address);
        if (_routes.TryGetValue(identity, out var old)) DropRoute(old);
        RouterSession? acknowledgeOn = null;
        if (session?.DataFor is { } dataFor)
        {
            // A data connection belongs to one of the node's link sessions, on which what arrives here is acknowledged.
            acknowledgeOn = link.Routes.LastOrDefault(r => !r.IsData && r.HandshakeHash is { } h && h.AsSpan().SequenceEqual(dataFor));
            if (acknowledgeOn is null)
            {
                Refuse(identity, RefuseCode.Busy, "a data connection for a session this node does not hold", name, version);
                return false;
            }
        }
        // The connection proved itself: should its session be forgotten later, its next frame is answered RESET at once.
        _resetBudget.Forget(identity);
        _helloBudget.Forget(identity);
        // A peer sends on one data connection at a time: one it opened before this one is done with (what it carried
        // and was not acknowledged went again on the link's own connection).
        if (acknowledgeOn is not null) foreach (var earlier in link.Routes.Where(r => r.AcknowledgedOn == acknowledgeOn).ToList()) DropRoute(earlier);
        var route = new RouterSession(identity, link, session?.Sealer, session?.Opener, session?.HandshakeHash, acknowledgeOn);
        link.Routes.Add(route);
        if (!route.IsData) DropReplacedSessions(link);
        // Before the peer is touched: a restarted peer's links are proved again before it counts as connected.
        if (broadcastKey is not null) SetBroadcastKey(link, broadcastKey, broadcastCipher, keep: route);
        else if (!route.IsData && session?.PlainIncarnation is { } incarnation && incarnation != Guid.Empty) SetPlainIncarnation(link, incarnation, route);
        Touch(link);
        if (route.IsData)
        {
            // The peer moves the connection to the data port on this WELCOME, keeping its routing id: the data
            // receiver knows it by that from now on (before the WELCOME goes), and this ROUTER no longer does.
            route.OnDataReceiver = true;
            AddDataRoute(route);
            Reply(route, ControlFrames.Welcome(new WelcomeFrame(Id, Name, Port, PublishPort, _options.MaxMessageSize, Secure ? _security.BroadcastKey : null, _security.Cipher, AnnouncedDataPort is not 0 and var announced ? announced : DataPort)));
            return true;
        }
        _routes[identity] = route;
        Reply(route, ControlFrames.Welcome(new WelcomeFrame(Id, Name, Port, PublishPort, _options.MaxMessageSize, Secure ? _security.BroadcastKey : null, _security.Cipher)));
        Reply(route, PeersFrame(except: link));
        // Its broadcasts reach us already: said again, since the peer may have made its link to us anew (it had
        // removed us) and wait for it.
        if (!link.Probing) SendOnLink(link, ControlFrames.Empty(FrameType.SubReady));
        return true;
    }

    private void Refuse(byte[] identity, RefuseCode code, string reason, string who, byte version)
    {
        // This node greeting itself (at a seed endpoint that is its own) is no stranger refused; another process with
        // this node's key is warned of on its own side, by the REFUSE.
        if (code != RefuseCode.SelfConnection)
        {
            CountRefused(code.ToString());
            var level = OnceAMinute(LogLevel.Warning, $"1200 {who} {code}");
            if (_logger.IsEnabled(level))
            {
                var connection = Convert.ToHexStringLower(identity);
                Log.HelloRefused(_logger, level, who, connection, reason);
            }
        }
        _router.SendMoreFrame(identity).SendFrame(ControlFrames.Refuse(new RefuseFrame(code, reason), version));
    }

    private void CountRefused(string reason)
    {
        _handshakesRefused++;
        Telemetry.HandshakesRefused.Add(1, _nodeTag, new("reason", reason));
    }

    /// <summary>Counts a handshake refused without an answer (and so without log event 1200): it goes into the
    /// second's summary, log event 1203.</summary>
    private void CountSilentRefusal(string reason)
    {
        CountRefused(reason);
        _rejects.AddRefusal(reason, Environment.TickCount64);
    }

    /// <summary>Refills the node-wide handshake bucket (<c>MaxHandshakesPerSecond</c>) and says whether it holds a
    /// token; the caller takes it (decrements) once the handshake is worth it.</summary>
    private bool HasHandshakeToken()
    {
        var now = Environment.TickCount64;
        var rate = _options.MaxHandshakesPerSecond;
        _handshakeTokens = Math.Min(rate, _handshakeTokens + (now - _handshakeTokensAt) * rate / 1000.0);
        _handshakeTokensAt = now;
        return _handshakeTokens >= 1;
    }

    /// <summary>Sends an inner frame to the peer on our DEALER, sealed in protocol 2. False when the session is not
    /// established yet (nothing but the handshake goes out before) or the socket is full.</summary>
    private bool SendOnLink(PeerLink link, byte[] inner) => link.Session is { } s && SendOnSession(s, inner, inner.Length);

    private bool SendOnSession(DealerSession session, byte[] inner, int length) =>
        session.Established && TrySendInner(session.Dealer, session.Sealer, inner.AsSpan(0, length));

    /// <summary>Answers on an inbound connection, sealed with its session in protocol 2.</summary>
    private void Reply(RouterSession route, byte[] inner)
    {
        _router.SendMoreFrame(route.RoutingId);
        if (route.Sealer is null)
        {
            _router.SendFrame(inner);
            return;
        }
        // A ROUTER never blocks on a connected peer: at its high-water mark it drops, as it does for plain frames.
        TrySendSealed(_router, route.Sealer, SealedPrefix, inner);
    }

    /// <summary>Publishes an inner frame on our PUB, sealed with our broadcast key in protocol 2.</summary>
    private void Publish(byte[] inner, int length)
    {
        if (!Secure)
        {
            _publisher.SendFrame(inner, length);
            return;
        }
        Span<byte> prefix = stackalloc byte[Wire.HeaderSize + Wire.NodeIdSize];
        Wire.WriteHeader(prefix, FrameType.SealedBroadcast, Wire.SecureVersion);
        Id.WriteTo(prefix[Wire.HeaderSize..]);
        TrySendSealed(_publisher, _security.BroadcastSealer, prefix, inner.AsSpan(0, length));
    }

    /// <summary>Sends an inner frame without waiting: sealed with <paramref name="sealer"/> in protocol 2, as it is in
    /// protocol 1 (no sealer). False when the socket is at its high-water mark.</summary>
    private static bool TrySendInner(NetMQSocket socket, FrameSealer? sealer, ReadOnlySpan<byte> inner)
    {
        if (sealer is not null) return TrySendSealed(socket, sealer, SealedPrefix, inner);
        var msg = new Msg();
        msg.InitPool(inner.Length);
        try
        {
            inner.CopyTo(msg.Slice());
            return socket.TrySend(ref msg, TimeSpan.Zero, more: false);
        }
        finally
        {
            msg.Close();
        }
    }

    private static ReadOnlySpan<byte> SealedPrefix => [Wire.Magic, Wire.SecureVersion, (byte)FrameType.Sealed];

    /// <summary>Seals straight into a NetMQ message and sends it without waiting; false when the socket is at its
    /// high-water mark. Sealing into a buffer of our own and letting NetMQ copy it cost a sixth of the sender.</summary>
    private static bool TrySendSealed(NetMQSocket socket, FrameSealer sealer, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> inner)
    {
        var msg = new Msg();
        msg.InitPool(FrameSealer.SealedLength(prefix.Length, inner.Length));
        try
        {
            sealer.Seal(prefix, inner, msg.Slice());
            return socket.TrySend(ref msg, TimeSpan.Zero, more: false);
        }
        finally
        {
            msg.Close();
        }
    }

    /// <summary>
    /// The poller's periodic care of connections without a session (called from the tick): expires pending
    /// handshakes, forgets per-connection budgets that have filled up again (all of them after a new ROUTER), and
    /// writes the summaries of rejected frames and silent refusals, once a second at most.
    /// </summary>
    private void ExpirePendingHandshakes(long now)
    {
        var timeout = (long)_options.HandshakeTimeout.TotalMilliseconds;
        foreach (var pending in _pending.Values.Where(p => now - p.StartedAt > timeout).ToList())
        {
            _pending.Remove(pending.RoutingId);
            pending.Dispose();
            CountSilentRefusal("timed-out");
        }
        if (!ReferenceEquals(_budgetsRouter, _router))
        {
            // Routing ids belong to one ROUTER socket: a restarted one starts afresh (the first one has nothing to forget).
            if (_budgetsRouter is not null)
            {
                _helloBudget.Clear();
                _resetBudget.Clear();
            }
            _budgetsRouter = _router;
        }
        _helloBudget.Prune(now);
        _resetBudget.Prune(now);
        if (_rejects.FramesDue(now, RejectSummaryMilliseconds))
        {
            var (count, seconds, reasons, sources) = _rejects.TakeFrames(now);
            Log.FramesRejectedSummary(_logger, count, seconds, reasons, sources);
        }
        if (_rejects.RefusalsDue(now, RejectSummaryMilliseconds))
        {
            var (count, seconds, reasons) = _rejects.TakeRefusals(now);
            Log.HandshakesRefusedSummary(_logger, count, seconds, reasons);
        }
    }
}
