using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Tests.Support;

/// <summary>A protocol 1 (insecure) peer written from docs/PROTOCOL.md alone, with raw NetMQ sockets (see
/// DocumentedPeerTests). All sockets live on one poller thread; the test hands it work through a queue.</summary>
public sealed class DocumentedPeer : IDisposable
{
    private const byte Magic = 0x4D, Version = 1;
    private const byte HELLO = 0x01, WELCOME = 0x02, REFUSE = 0x03, DATA = 0x04, PING = 0x05, PONG = 0x06, LEAVE = 0x07,
        LEAVE_ACK = 0x08, SUB_PROBE = 0x09, PUB_PROBE = 0x0A, SUB_READY = 0x0B, PEERS = 0x0C, BROADCAST = 0x0D,
        RESET = 0x0E, ACK = 0x12, BROADCAST_ACK = 0x13, BROADCAST_TAIL = 0x14;

    private readonly string _cluster, _name;
    private string? _nodeEndpoint;
    private readonly byte[] _id = RandomNumberGenerator.GetBytes(16);
    private readonly byte[] _incarnation = RandomNumberGenerator.GetBytes(16);
    private readonly byte[] _session = RandomNumberGenerator.GetBytes(16);
    private readonly RouterSocket _router = new();
    private readonly RouterSocket _dataRouter = new();
    private readonly PublisherSocket _pub = new();
    private DealerSocket? _dealer;
    private SubscriberSocket? _sub;
    private readonly NetMQPoller _poller = new();
    private readonly NetMQQueue<Action<DocumentedPeer>> _queue = new();
    private readonly NetMQTimer _timer = new(TimeSpan.FromMilliseconds(20));
    private readonly object _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly int _port, _pubPort, _dataPort;
    // What the node told us.
    private byte[]? _nodeId;
    private int _nodePubPort;
    private byte[]? _nodeLinkRid, _nodeLinkSession, _nodeDataRid;
    private bool _welcomed, _gotPubProbe, _gotSubReady;
    private ulong _token;
    private DateTime _nextHello, _nextProbe, _nextPing;
    private int _probeDelayMs = 4;
    // Streams.
    private long _sent, _bcastSent, _lastDelivered, _lastBcastDelivered;
    private bool _bcastCounting; // the node's PUB_PROBE said where its stream stood

    public ConcurrentQueue<string> Log { get; } = new();
    public ConcurrentQueue<DocumentedRecord> Received { get; } = new();
    public ConcurrentQueue<DocumentedRecord> Broadcasts { get; } = new();
    public long AckedByNode { get; private set; }
    public long BroadcastAckedByNode { get; private set; }
    public int PingsAnswered { get; private set; }
    public bool LeaveAcked { get; private set; }
    public bool LeaveFromNode { get; private set; }

    /// <summary>Broadcasts of the node's that a BROADCAST_TAIL showed never arrived.</summary>
    public long BroadcastsMissed { get; private set; }
    public int DataPortRecords { get; private set; }
    public bool SendPings { get; init; } = true;
    public bool SendPeersAfterWelcome { get; init; } = true;
    public bool RefuseDataConnections { get; init; }

    /// <summary>A message the peer sends when the node says LEAVE, as one that crossed the LEAVE on the way would
    /// come. The peer then answers LEAVE_ACK only once the node has answered a PING sent after the message, on the
    /// same connection: the node has read the message by then.</summary>
    public string? DataBeforeLeaveAck { get; init; }

    private byte[]? _leaveAckOwedTo;
    public bool Connected { get { lock (_gate) return _welcomed && _gotPubProbe && _gotSubReady; } }

    public DocumentedPeer(string cluster, string name, string? nodeEndpoint)
    {
        _cluster = cluster;
        _name = name;
        _nodeEndpoint = nodeEndpoint;
        foreach (var s in new NetMQSocket[] { _router, _dataRouter, _pub }) s.Options.Linger = TimeSpan.Zero;
        _port = _router.BindRandomPort("tcp://127.0.0.1");
        _dataPort = _dataRouter.BindRandomPort("tcp://127.0.0.1");
        _pubPort = _pub.BindRandomPort("tcp://127.0.0.1");
        _router.ReceiveReady += (_, _) => Drain(_router, OnRouter);
        _dataRouter.ReceiveReady += (_, _) => Drain(_dataRouter, OnDataRouter);
        _queue.ReceiveReady += (_, _) => { while (_queue.TryDequeue(out var act, TimeSpan.Zero)) act(this); Pulse(); };
        _timer.Elapsed += (_, _) => OnTimer();
        _poller.Add(_router); _poller.Add(_dataRouter); _poller.Add(_pub); _poller.Add(_queue); _poller.Add(_timer);
    }

    public void Start()
    {
        _poller.RunAsync();
        if (_nodeEndpoint is not null) Enqueue(p => p.LinkTo(p._nodeEndpoint!));
    }

    public void Enqueue(Action<DocumentedPeer> act) => _queue.Enqueue(act);

    public async Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Task changed;
            lock (_gate) changed = _changed.Task;
            if (condition()) return;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"waited in vain for {what}");
            await changed.WaitAsync(left).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private void Pulse()
    {
        lock (_gate) { var old = _changed; _changed = new(TaskCreationOptions.RunContinuationsAsynchronously); old.TrySetResult(); }
    }

    private void Note(string s) => Log.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {s}");

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;

    // ---------------- outgoing ----------------

    private void LinkTo(string endpoint)
    {
        _nodeEndpoint = endpoint;
        _dealer = new DealerSocket();
        _dealer.Options.Linger = TimeSpan.Zero;
        _dealer.Connect(endpoint);
        _dealer.ReceiveReady += (_, _) => Drain(_dealer, (frames) => OnDealer(frames));
        _poller.Add(_dealer);
        SendHello();
    }

    private void SendHello()
    {
        var w = Frame(HELLO);
        Str8(w, _cluster); w.Write(_id); Str8(w, _name); Str8(w, "127.0.0.1");
        w.Write((ushort)_port); w.Write((ushort)_pubPort); w.Write(_incarnation); w.Write(_session);
        SendDealer(w, "HELLO");
        _nextHello = DateTime.UtcNow.AddSeconds(1);
    }

    public void SendData(params string[] texts)
    {
        var w = Frame(DATA);
        w.Write(_lastDelivered); // ack
        WriteBatch(w, texts, ref _sent);
        SendDealer(w, $"DATA seq..{_sent} ack {_lastDelivered}");
    }

    public void Broadcast(params string[] texts)
    {
        var w = Frame(BROADCAST);
        w.Write(_id);
        WriteBatch(w, texts, ref _bcastSent);
        _pub.SendFrame(Bytes(w));
        Note($"-> PUB BROADCAST seq..{_bcastSent}");
    }

    public void Leave()
    {
        SendDealer(Frame(LEAVE), "LEAVE");
    }

    private bool _nodeSessionForgotten;

    /// <summary>From now on the node's link session is forgotten, as by a restarted process on the same ports:
    /// its frames are answered RESET until it says HELLO again.</summary>
    public void ForgetNodeSession() => _nodeSessionForgotten = true;

    /// <summary>A LEAVE_ACK for no LEAVE, as a confused or hostile member could send one.</summary>
    public void SendUnaskedLeaveAck() => SendRouter(_nodeLinkRid!, Frame(LEAVE_ACK), "unasked LEAVE_ACK");

    private static void WriteBatch(BinaryWriter w, string[] texts, ref long seq)
    {
        w.Write((uint)texts.Length);
        foreach (var t in texts)
        {
            var body = Encoding.UTF8.GetBytes(t);
            w.Write((byte)0); w.Write((byte)1); w.Write(++seq); w.Write(Now());
            w.Write((uint)body.Length); w.Write(body);
        }
    }

    public byte[] Beacon()
    {
        var ms = new MemoryStream();
        var w = new BinaryWriter(ms);
        w.Write(Encoding.ASCII.GetBytes("MSGRB")); w.Write((byte)1); Str8(w, _cluster); w.Write(_id); Str8(w, _name);
        w.Write((ushort)_port); w.Write((ushort)_pubPort);
        return ms.ToArray();
    }

    private void SendDealer(BinaryWriter w, string what)
    {
        _dealer!.SendFrame(Bytes(w));
        if (!what.StartsWith("PING")) Note($"-> DEALER {what}");
    }

    private void SendRouter(byte[] rid, BinaryWriter w, string what)
    {
        _router.SendMoreFrame(rid).SendFrame(Bytes(w));
        if (!what.StartsWith("PONG")) Note($"-> ROUTER {what}");
    }

    private void OnTimer()
    {
        if (_dealer is null) return;
        var now = DateTime.UtcNow;
        if (!_welcomed && now >= _nextHello) SendHello();
        if (_welcomed && !_gotPubProbe && _sub is not null && now >= _nextProbe)
        {
            _token = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
            var w = Frame(SUB_PROBE); w.Write(_token);
            SendDealer(w, $"SUB_PROBE {_token:x}");
            _nextProbe = now.AddMilliseconds(_probeDelayMs);
            _probeDelayMs = _probeDelayMs >= 64 ? 100 : _probeDelayMs * 2;
        }
        if (SendPings && _welcomed && now >= _nextPing)
        {
            var w = Frame(PING); w.Write(Now());
            SendDealer(w, "PING");
            _nextPing = now.AddMilliseconds(250);
        }
    }

    // ---------------- incoming ----------------

    private void Drain(NetMQSocket s, Action<List<byte[]>> handle)
    {
        var frames = new List<byte[]>();
        while (s.TryReceiveMultipartBytes(TimeSpan.Zero, ref frames!))
        {
            try { handle(frames); }
            catch (Exception e) { Note($"!! handler threw {e.GetType().Name}: {e.Message}"); }
            frames = new List<byte[]>();
        }
        Pulse();
    }

    private static bool Header(byte[] f, out byte type)
    {
        type = f.Length >= 3 ? f[2] : (byte)0;
        return f.Length >= 3 && f[0] == Magic && f[1] == Version;
    }

    private void OnRouter(List<byte[]> frames)
    {
        if (frames.Count != 2) { Note($"!! ROUTER multipart {frames.Count}"); return; }
        var rid = frames[0]; var f = frames[1];
        if (!Header(f, out var type)) { Note($"!! ROUTER bad header {Convert.ToHexString(f.AsSpan(0, Math.Min(3, f.Length)))}"); return; }
        var r = Body(f);
        if (_nodeSessionForgotten && type != HELLO)
        {
            SendRouter(rid, Frame(RESET), "RESET (session forgotten)");
            return;
        }
        switch (type)
        {
            case HELLO:
            {
                _nodeSessionForgotten = false;
                var cluster = Str8(r); var id = r.ReadBytes(16); var name = Str8(r); var host = Str8(r);
                var port = r.ReadUInt16(); var pubPort = r.ReadUInt16(); var inc = r.ReadBytes(16); var session = r.ReadBytes(16);
                byte[]? link = null;
                if (r.BaseStream.Position < r.BaseStream.Length) { var tag = r.ReadByte(); if (tag != 1) Note($"!! HELLO tag {tag}"); link = r.ReadBytes(16); }
                End(r, "HELLO");
                Note($"<- ROUTER HELLO from {name} {host}:{port}/{pubPort} cluster {cluster} data={link is not null} rid {Hex(rid)}");
                _nodeId ??= id;
                if (link is null)
                {
                    _nodeLinkRid = rid; _nodeLinkSession = session;
                    var w = Frame(WELCOME); w.Write(_id); Str8(w, _name); w.Write((ushort)_port); w.Write((ushort)_pubPort); w.Write((uint)1048576);
                    SendRouter(rid, w, "WELCOME");
                    if (SendPeersAfterWelcome) { var p = Frame(PEERS); p.Write((ushort)0); SendRouter(rid, p, "PEERS(0)"); }
                    if (_dealer is null) LinkTo($"tcp://{host}:{port}");
                }
                else if (!RefuseDataConnections && _nodeLinkSession is not null && link.AsSpan().SequenceEqual(_nodeLinkSession))
                {
                    _nodeDataRid = rid;
                    var w = Frame(WELCOME); w.Write(_id); Str8(w, _name); w.Write((ushort)_port); w.Write((ushort)_pubPort); w.Write((uint)1048576);
                    w.Write((ushort)_dataPort);
                    SendRouter(rid, w, "WELCOME(data)");
                }
                else
                {
                    var w = Frame(REFUSE); w.Write((byte)10); Str8(w, "no such link session");
                    SendRouter(rid, w, "REFUSE 10");
                }
                break;
            }
            case PING:
            {
                var at = r.ReadInt64(); End(r, "PING");
                var w = Frame(PONG); w.Write(at);
                SendRouter(rid, w, "PONG");
                PingsAnswered++;
                break;
            }
            case DATA: OnData(rid, r, "ROUTER"); break;
            case SUB_PROBE:
            {
                var token = r.ReadUInt64(); End(r, "SUB_PROBE");
                var w = Frame(PUB_PROBE); w.Write(_id); w.Write(_nodeId ?? new byte[16]); w.Write(token);
                _pub.SendFrame(Bytes(w));
                Note($"<- SUB_PROBE {token:x}; -> PUB PUB_PROBE");
                break;
            }
            case SUB_READY: End(r, "SUB_READY"); Note("<- ROUTER SUB_READY"); lock (_gate) _gotSubReady = true; break;
            case PEERS: Note($"<- ROUTER PEERS {ReadPeers(r)}"); break;
            case BROADCAST_ACK: { var s = r.ReadInt64(); End(r, "BROADCAST_ACK"); BroadcastAckedByNode = Math.Max(BroadcastAckedByNode, s); Note($"<- ROUTER BROADCAST_ACK {s}"); break; }
            case ACK: { var s = r.ReadInt64(); End(r, "ACK"); AckedByNode = Math.Max(AckedByNode, s); Note($"<- ROUTER ACK {s}"); break; }
            case LEAVE:
            {
                // last_broadcast came in a later revision: a LEAVE without it claims nothing.
                var lastBroadcast = r.BaseStream.Length - r.BaseStream.Position >= 8 ? r.ReadInt64() : 0;
                End(r, "LEAVE"); Note($"<- ROUTER LEAVE {lastBroadcast}"); LeaveFromNode = true;
                lock (_gate)
                {
                    if (_gotPubProbe && (_lastBcastDelivered > 0 || _bcastCounting) && lastBroadcast > _lastBcastDelivered) BroadcastsMissed += lastBroadcast - _lastBcastDelivered;
                }
                if (DataBeforeLeaveAck is null)
                {
                    SendRouter(rid, Frame(LEAVE_ACK), "LEAVE_ACK");
                    break;
                }
                SendData(DataBeforeLeaveAck);
                var ping = Frame(PING); ping.Write(Now());
                SendDealer(ping, "PING");
                _leaveAckOwedTo = rid;
                break;
            }
            default: Note($"!! ROUTER unexpected type 0x{type:x2}"); break;
        }
    }

    private void OnDataRouter(List<byte[]> frames)
    {
        if (frames.Count != 2) { Note($"!! DATA ROUTER multipart {frames.Count}"); return; }
        var rid = frames[0]; var f = frames[1];
        if (_nodeDataRid is null || !rid.AsSpan().SequenceEqual(_nodeDataRid) || !Header(f, out var type) || type != DATA)
        {
            Note($"!! DATA ROUTER stranger/other rid {Hex(rid)}; -> RESET");
            _dataRouter.SendMoreFrame(rid).SendFrame(Bytes(Frame(RESET)));
            return;
        }
        DataPortRecords += OnData(_nodeLinkRid!, Body(f), "DATAPORT");
    }

    private int OnData(byte[] ackRid, BinaryReader r, string where)
    {
        var ack = r.ReadInt64();
        if (ack > 0) AckedByNode = Math.Max(AckedByNode, ack);
        var records = ReadBatch(r); End(r, "DATA");
        foreach (var rec in records)
        {
            if (rec.Sequence <= _lastDelivered) { Note($"   duplicate {rec.Sequence}"); continue; }
            _lastDelivered = rec.Sequence;
            if ((rec.Flags & 4) == 0) Received.Enqueue(rec);
        }
        Note($"<- {where} DATA ack {ack} [{string.Join(",", records.Select(x => $"{x.Sequence}:{x.Text}:f{x.Flags}"))}]");
        var w = Frame(ACK); w.Write(_lastDelivered);
        SendRouter(ackRid, w, $"ACK {_lastDelivered}");
        return records.Count;
    }

    private void OnDealer(List<byte[]> frames)
    {
        if (frames.Count != 1) { Note($"!! DEALER multipart {frames.Count}"); return; }
        var f = frames[0];
        if (!Header(f, out var type)) { Note("!! DEALER bad header"); return; }
        var r = Body(f);
        switch (type)
        {
            case WELCOME:
            {
                var id = r.ReadBytes(16); var name = Str8(r); var port = r.ReadUInt16(); var pubPort = r.ReadUInt16(); var max = r.ReadUInt32();
                End(r, "WELCOME");
                Note($"<- DEALER WELCOME from {name} port {port} pub {pubPort} max {max}");
                _nodeId = id; _nodePubPort = pubPort;
                lock (_gate) _welcomed = true;
                if (_sub is null)
                {
                    _sub = new SubscriberSocket();
                    _sub.Options.Linger = TimeSpan.Zero;
                    _sub.SubscribeToAnyTopic();
                    _sub.Connect($"tcp://127.0.0.1:{pubPort}");
                    _sub.ReceiveReady += (_, _) => Drain(_sub, OnSub);
                    _poller.Add(_sub);
                    _nextProbe = DateTime.UtcNow;
                }
                break;
            }
            case REFUSE: { var code = r.ReadByte(); var reason = Str8(r); Note($"<- DEALER REFUSE {code} {reason}"); break; }
            case PONG:
                r.ReadInt64(); End(r, "PONG");
                if (_leaveAckOwedTo is { } owed) SendRouter(owed, Frame(LEAVE_ACK), "LEAVE_ACK");
                _leaveAckOwedTo = null;
                break;
            case ACK: { var s = r.ReadInt64(); End(r, "ACK"); AckedByNode = Math.Max(AckedByNode, s); Note($"<- DEALER ACK {s}"); break; }
            case PEERS: Note($"<- DEALER PEERS {ReadPeers(r)}"); break;
            case RESET: Note("<- DEALER RESET"); lock (_gate) _welcomed = false; SendHello(); break;
            case LEAVE_ACK: Note("<- DEALER LEAVE_ACK"); LeaveAcked = true; break;
            default: Note($"!! DEALER unexpected type 0x{type:x2}"); break;
        }
    }

    private void OnSub(List<byte[]> frames)
    {
        if (frames.Count != 1) { Note($"!! SUB multipart {frames.Count}"); return; }
        var f = frames[0];
        if (!Header(f, out var type)) { Note("!! SUB bad header"); return; }
        var r = Body(f);
        switch (type)
        {
            case PUB_PROBE:
            {
                var sender = r.ReadBytes(16); var target = r.ReadBytes(16); var token = r.ReadUInt64();
                // last_published came in a later revision: the count of the node's broadcasts starts there.
                long? lastPublished = r.BaseStream.Length - r.BaseStream.Position >= 8 ? r.ReadInt64() : null;
                End(r, "PUB_PROBE");
                var mine = target.AsSpan().SequenceEqual(_id) && token == _token;
                Note($"<- SUB PUB_PROBE {token:x} last={lastPublished} mine={mine}");
                if (mine)
                {
                    if (lastPublished is { } start && !_bcastCounting && _lastBcastDelivered == 0) (_lastBcastDelivered, _bcastCounting) = (start, true);
                    // Every PUB_PROBE for us is answered: the node probes again after its publisher was made anew.
                    lock (_gate) _gotPubProbe = true;
                    SendDealer(Frame(SUB_READY), "SUB_READY");
                }
                break;
            }
            case BROADCAST:
            {
                var sender = r.ReadBytes(16);
                var records = ReadBatch(r); End(r, "BROADCAST");
                foreach (var rec in records)
                {
                    if (rec.Sequence <= _lastBcastDelivered) continue;
                    _lastBcastDelivered = rec.Sequence;
                    if ((rec.Flags & 4) == 0) Broadcasts.Enqueue(rec);
                }
                Note($"<- SUB BROADCAST [{string.Join(",", records.Select(x => $"{x.Sequence}:{x.Text}"))}]");
                var w = Frame(BROADCAST_ACK); w.Write(_lastBcastDelivered);
                SendDealer(w, $"BROADCAST_ACK {_lastBcastDelivered}");
                break;
            }
            case BROADCAST_TAIL:
            {
                var sender = r.ReadBytes(16); var last = r.ReadInt64(); End(r, "BROADCAST_TAIL");
                Note($"<- SUB BROADCAST_TAIL {last}");
                bool proven;
                lock (_gate) proven = _gotPubProbe;
                if (!proven || last <= _lastBcastDelivered) break;
                if (_lastBcastDelivered > 0 || _bcastCounting) BroadcastsMissed += last - _lastBcastDelivered;
                _lastBcastDelivered = last;
                var w = Frame(BROADCAST_ACK); w.Write(_lastBcastDelivered);
                SendDealer(w, $"BROADCAST_ACK {_lastBcastDelivered}");
                break;
            }
            default: Note($"!! SUB unexpected type 0x{type:x2}"); break;
        }
    }

    private static List<DocumentedRecord> ReadBatch(BinaryReader r)
    {
        var count = r.ReadUInt32();
        var list = new List<DocumentedRecord>();
        for (var i = 0; i < count; i++)
        {
            var flags = r.ReadByte(); var ct = r.ReadByte(); var seq = r.ReadInt64(); r.ReadInt64();
            string? topic = (flags & 1) != 0 ? Str8(r) : null;
            var len = r.ReadUInt32(); var body = r.ReadBytes((int)len);
            list.Add(new DocumentedRecord(flags, ct, seq, topic, Encoding.UTF8.GetString(body)));
        }
        return list;
    }

    private static string ReadPeers(BinaryReader r)
    {
        var n = r.ReadUInt16();
        var sb = new StringBuilder($"{n}:");
        for (var i = 0; i < n; i++)
        {
            r.ReadBytes(16); var name = Str8(r); var host = Str8(r); var port = r.ReadUInt16(); var pub = r.ReadUInt16();
            sb.Append($" {name}@{host}:{port}/{pub}");
        }
        End(r, "PEERS");
        return sb.ToString();
    }

    // ---------------- encoding ----------------

    private static BinaryWriter Frame(byte type)
    {
        var w = new BinaryWriter(new MemoryStream());
        w.Write(Magic); w.Write(Version); w.Write(type);
        return w;
    }

    private static byte[] Bytes(BinaryWriter w) { w.Flush(); return ((MemoryStream)w.BaseStream).ToArray(); }
    private static BinaryReader Body(byte[] f) => new(new MemoryStream(f, 3, f.Length - 3));
    private static void Str8(BinaryWriter w, string s) { var b = Encoding.UTF8.GetBytes(s); w.Write((byte)b.Length); w.Write(b); }
    private static string Str8(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes(r.ReadByte()));
    private static string Hex(byte[] b) => Convert.ToHexString(b);

    private static void End(BinaryReader r, string what)
    {
        if (r.BaseStream.Position != r.BaseStream.Length)
            throw new InvalidDataException($"{what}: {r.BaseStream.Length - r.BaseStream.Position} trailing bytes");
    }

    public void Dispose()
    {
        _poller.Stop();
        _poller.Dispose();
        foreach (var s in new NetMQSocket?[] { _router, _dataRouter, _pub, _dealer, _sub }) s?.Dispose();
        _queue.Dispose();
    }
}
