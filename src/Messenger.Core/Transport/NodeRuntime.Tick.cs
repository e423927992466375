using Messenger.Protocol;
using NetMQ;

namespace Messenger.Transport;

// The periodic work of the poller: handshake retries, heartbeats, failure detection, membership gossip.
internal sealed partial class NodeRuntime
{
    private void OnTick()
    {
        var now = Environment.TickCount64;
        Volatile.Write(ref _lastTick, now);

        var heartbeat = (long)_options.HeartbeatInterval.TotalMilliseconds;
        var timeout = (long)_options.PeerTimeout.TotalMilliseconds;
        var goneAfter = (long)_options.PeerGoneAfter.TotalMilliseconds;
        var gossip = now - _lastGossip >= GossipMilliseconds;
        byte[]? ping = null;

        // The publisher only sends, so it is not in the poller, where it would cost every wake-up two checks: reading
        // its events here has it take in what its connections told it (subscriptions, closed pipes) while it has
        // nothing to send. A failure there is the broadcast actor's, as it would be in the poller.
        Guard("broadcast", () => _ = _publisher.HasOut, RestartPublisher);
        ProbeForPublisher();
        ExpirePendingHandshakes(now);
        CheckDataConnections(now);
        LeaveStalledPeersBehind(now);
        if (gossip)
        {
            PublishBroadcastTail();
            _broadcast.TrimIfIdle();
            foreach (var link in _peers.Values) link.Outbound.TrimIfIdle();
        }
        foreach (var link in _peers.Values.ToList())
        {
            if (link.Watch is { } watch) Guard(LinkActor(link), watch.Poll, () => RestartLink(link));
            ReportMissedBroadcasts(link, now, force: false);
            if (link.Session is null)
            {
                // Made anew (a restart, a new address) when its address could not be connected to: tried again.
                if (now - link.ConnectAttemptAt >= HelloRetryMilliseconds) ReconnectSockets(link, now);
            }
            else if (!link.Welcomed)
            {
                if (now - link.Session.LastHelloSent >= HelloRetryMilliseconds) StartHandshake(link.Session);
            }
            else
            {
                SendProbeIfDue(link, now);
                if (now - link.LastPingSent >= heartbeat)
                {
                    ping ??= ControlFrames.Timestamped(FrameType.Ping, Protocol.Wire.UnixMicros(DateTimeOffset.UtcNow));
                    link.LastPingSent = now;
                    SendOnLink(link, ping);
                }
                if (gossip && link.State == PeerState.Connected) SendOnLink(link, PeersFrame(except: link));
            }

            switch (link.State)
            {
                case PeerState.Connected or PeerState.Joining when link.EverConnected && !IsAlive(link, now):
                    Evaluate(link, now - link.LastSeen > timeout ? $"nothing heard for {now - link.LastSeen} ms" : "connection lost");
                    break;
                case PeerState.Unreachable when now - link.UnreachableSince > goneAfter:
                    RemoveLink(link, $"unreachable for more than {goneAfter / 1000.0:0.#} s", raiseEvent: true);
                    break;
                case PeerState.Joining when !link.EverConnected && now - link.CreatedAt > Math.Max(goneAfter, 3 * timeout):
                    RemoveLink(link, "never completed its handshake", raiseEvent: false);
                    break;
            }
        }

        if (gossip)
        {
            _lastGossip = now;
            foreach (var seed in _seeds.Values)
            {
                if (seed.IsThisNode) continue;
                if (seed.Session is null)
                {
                    // Its endpoint could not be connected to (a host name that does not resolve yet): tried again as
                    // often as an unanswered seed is greeted again.
                    if (now - seed.ConnectAttemptAt >= 2 * GossipMilliseconds && OpenSeedConnection(seed) is { } session) StartHandshake(session);
                    continue;
                }
                var found = seed.AnsweredBy is not null && _byName.ContainsKey(seed.AnsweredBy);
                if (!found && now - seed.Session.LastHelloSent >= 2 * GossipMilliseconds) StartHandshake(seed.Session);
            }
            RemoveExpired(_refusedUntil, now);
            RemoveExpired(_departedUntil, now);
        }
        if (now - _lastSnapshot >= heartbeat) PublishSnapshot();
    }

    private void SendProbeIfDue(PeerLink link, long now)
    {
        if (!link.Probing || link.Session is null || now - link.LastProbeSent < link.ProbeInterval) return;
        link.LastProbeSent = now;
        SendOnLink(link, ControlFrames.SubProbe(link.ProbeToken));
        link.ProbeInterval = Math.Clamp(link.ProbeInterval * 2, FirstProbeRetryMilliseconds, ProbeRetryMilliseconds);
        if (link.ProbeInterval < ProbeRetryMilliseconds) _probeTimer.Enable = true;
    }

    /// <summary>Poller: publishes a PUB_PROBE to each peer whose subscription is to reach our new publisher (see
    /// RestartPublisher); until it answers SUB_READY, every tick. One published before ZeroMQ has reconnected the
    /// peer's SUB is lost, as any broadcast is, and the next goes.</summary>
    private void ProbeForPublisher()
    {
        foreach (var link in _peers.Values)
        {
            if (!link.ProbingForPublisher) continue;
            var probe = ControlFrames.PubProbe(new PubProbeFrame(Id, link.Id, link.PeerProbeToken, _broadcastWindow.LastPublished));
            Guard("broadcast", () => Publish(probe, probe.Length), RestartPublisher);
        }
    }

    /// <summary>Probes again at once, and then soon after: the link's broadcast direction is to be proven anew.</summary>
    private static void RestartProbes(PeerLink link)
    {
        link.LastProbeSent = long.MinValue / 2;
        link.ProbeInterval = 0;
    }

    // Runs every few milliseconds while a link's first probes are unanswered; the tick takes over after that.
    private void OnProbeTimer()
    {
        var now = Environment.TickCount64;
        var waiting = false;
        foreach (var link in _peers.Values)
        {
            if (!link.Welcomed || link.Session is null || !link.Probing || link.ProbeInterval >= ProbeRetryMilliseconds) continue;
            SendProbeIfDue(link, now);
            waiting = true;
        }
        if (!waiting) _probeTimer.Enable = false;
    }

    // The entries of a table of node ids held back until a time that has passed.
    private static void RemoveExpired(Dictionary<NodeId, long> until, long now)
    {
        foreach (var (id, time) in until.ToList())
        {
            if (now > time) until.Remove(id);
        }
    }
}
