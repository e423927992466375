using System.Net;

namespace Messenger.Discovery;

/// <summary>One interface the beacon uses: its address, the broadcast address it sends to, and its subnet, from
/// which alone it accepts announcements.</summary>
internal sealed record BeaconInterface(string Name, IPAddress Address, IPAddress Broadcast, IPAddress Mask)
{
    public bool Contains(IPAddress source)
    {
        if (source.IsIPv4MappedToIPv6) source = source.MapToIPv4();
        var a = source.GetAddressBytes();
        var b = Address.GetAddressBytes();
        var m = Mask.GetAddressBytes();
        if (a.Length != 4) return false;
        for (var i = 0; i < 4; i++)
        {
            if ((a[i] & m[i]) != (b[i] & m[i])) return false;
        }
        return true;
    }

    public static BeaconInterface Loopback { get; } = new("lo", IPAddress.Loopback, IPAddress.Parse("127.255.255.255"), IPAddress.Parse("255.0.0.0"));
}
