using System.Net;
using System.Net.Sockets;
using Messenger.Protocol;

namespace Messenger.Discovery;

/// <summary>
/// Announces this node by UDP broadcast on the chosen interfaces and hears the announcements of others.
/// One thread sends and receives; every socket error is caught and reported, none ends the process. Several
/// nodes on one host share the port through address reuse, and each receives every broadcast.
/// </summary>
internal sealed class UdpBeacon : IDisposable
{
    private readonly Socket _socket;
    private readonly IReadOnlyList<BeaconInterface> _interfaces;
    private readonly byte[] _announcement;
    private readonly TimeSpan _interval;
    private readonly int _port;
    private readonly NodeId _self;
    private readonly Action<BeaconAnnouncement, IPAddress> _heard;
    private readonly Action<IPAddress, string> _rejected;
    private readonly Action<string, Exception?> _failed;
    private readonly Action? _faultCheck;
    private readonly Thread _thread;
    private volatile bool _stopping;

    public UdpBeacon(
        IReadOnlyList<BeaconInterface> interfaces,
        int port,
        TimeSpan interval,
        BeaconAnnouncement self,
        Action<BeaconAnnouncement, IPAddress> heard,
        Action<IPAddress, string> rejected,
        Action<string, Exception?> failed,
        Action? faultCheck = null)
    {
        _faultCheck = faultCheck;
        _interfaces = interfaces;
        _port = port;
        _interval = interval;
        _self = self.Id;
        _announcement = self.Encode();
        _heard = heard;
        _rejected = rejected;
        _failed = failed;
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _socket.EnableBroadcast = true;
            _socket.Bind(new IPEndPoint(IPAddress.Any, port));
        }
        catch (SocketException e)
        {
            _socket.Dispose();
            throw new MessengerConfigurationException("BeaconPort", $"cannot bind UDP port {port}: {e.Message}", e);
        }
        _thread = new Thread(Run) { IsBackground = true, Name = $"messenger-beacon-{self.Name}" };
    }

    public long SendErrors { get; private set; }

    public void Start() => _thread.Start();

    private void Run()
    {
        var buffer = new byte[1024];
        var nextSend = 0L;
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        while (!_stopping)
        {
            try
            {
                _faultCheck?.Invoke();
                var now = Environment.TickCount64;
                if (now >= nextSend)
                {
                    Announce();
                    nextSend = now + (long)_interval.TotalMilliseconds;
                }
                var waitMicros = (int)Math.Clamp((nextSend - Environment.TickCount64) * 1000, 1000, 50_000);
                if (!_socket.Poll(waitMicros, SelectMode.SelectRead)) continue;
                var n = _socket.ReceiveFrom(buffer, ref from);
                var source = ((IPEndPoint)from).Address;
                if (!_interfaces.Any(i => i.Contains(source))) continue;
                BeaconAnnouncement heard;
                try
                {
                    heard = BeaconAnnouncement.Decode(buffer.AsSpan(0, n));
                }
                catch (ProtocolException e)
                {
                    _rejected(source, e.Message);
                    continue;
                }
                if (heard.Id == _self) continue;
                _heard(heard, source);
            }
            catch (Exception e) when (_stopping && e is SocketException or ObjectDisposedException)
            {
                return;
            }
            catch (Exception e)
            {
                // Reported to the supervisor, which replaces this beacon; this thread then ends.
                _failed("beacon", e);
                return;
            }
        }
    }

    private void Announce()
    {
        foreach (var i in _interfaces)
        {
            try
            {
                _socket.SendTo(_announcement, new IPEndPoint(i.Broadcast, _port));
            }
            catch (SocketException)
            {
                // An interface that is down or has lost its address: the next announcement tries again. Not a
                // failure of the beacon, so a cut cable does not use up the supervisor's restarts.
                SendErrors++;
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _socket.Dispose();
        if (_thread.IsAlive) _thread.Join();
    }
}
