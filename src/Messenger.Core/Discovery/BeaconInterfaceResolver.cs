using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Messenger.Discovery;

/// <summary>Turns the BeaconInterface setting into the interfaces to announce on, or a clear configuration error.
/// Nothing here throws on another thread: a bad setting fails the node's start.</summary>
internal static class BeaconInterfaceResolver
{
    public const string EnvironmentVariable = "MESSENGER_BEACON_INTERFACE";

    public static IReadOnlyList<BeaconInterface> Resolve(string? setting)
    {
        if (string.IsNullOrWhiteSpace(setting)) setting = Environment.GetEnvironmentVariable(EnvironmentVariable);
        NetworkInterface[] interfaces;
        try
        {
            interfaces = NetworkInterface.GetAllNetworkInterfaces();
        }
        catch (NetworkInformationException e)
        {
            throw new MessengerConfigurationException("BeaconInterface", $"this host's network interfaces cannot be listed: {e.Message}. Turn the beacon off and use seeds.");
        }
        if (string.IsNullOrWhiteSpace(setting) || setting.Equals("auto", StringComparison.OrdinalIgnoreCase))
        {
            var all = interfaces
                .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback && n.SupportsMulticast)
                .SelectMany(FromInterface)
                .ToList();
            return all.Count > 0 ? all : [BeaconInterface.Loopback];
        }

        if (setting.Equals("lo", StringComparison.Ordinal) || setting.Equals("loopback", StringComparison.OrdinalIgnoreCase))
            return [BeaconInterface.Loopback];

        if (IPAddress.TryParse(setting, out var address))
        {
            if (address.AddressFamily != AddressFamily.InterNetwork)
                throw new MessengerConfigurationException("BeaconInterface", $"'{setting}' is not an IPv4 address; the beacon uses IPv4 broadcast.");
            if (IPAddress.IsLoopback(address)) return [BeaconInterface.Loopback];
            var owner = interfaces.SelectMany(FromInterface).FirstOrDefault(b => b.Address.Equals(address));
            return owner is not null
                ? [owner]
                : throw new MessengerConfigurationException("BeaconInterface", $"no interface of this host has the address {setting}. Addresses here: {Describe(interfaces)}.");
        }

        var named = interfaces.FirstOrDefault(n => n.Name == setting)
            ?? throw new MessengerConfigurationException("BeaconInterface", $"no interface is named '{setting}'. Interfaces here: {Describe(interfaces)}.");
        if (named.NetworkInterfaceType == NetworkInterfaceType.Loopback) return [BeaconInterface.Loopback];
        if (named.OperationalStatus != OperationalStatus.Up)
            throw new MessengerConfigurationException("BeaconInterface", $"the interface '{setting}' is {named.OperationalStatus}, not up.");
        var found = FromInterface(named).ToList();
        return found.Count > 0
            ? found
            : throw new MessengerConfigurationException("BeaconInterface", $"the interface '{setting}' has no IPv4 address to broadcast from.");
    }

    private static IEnumerable<BeaconInterface> FromInterface(NetworkInterface n)
    {
        IPInterfaceProperties properties;
        try
        {
            properties = n.GetIPProperties();
        }
        catch (NetworkInformationException)
        {
            yield break;
        }
        foreach (var u in properties.UnicastAddresses)
        {
            if (u.Address.AddressFamily != AddressFamily.InterNetwork || u.IPv4Mask is null) continue;
            var a = u.Address.GetAddressBytes();
            var m = u.IPv4Mask.GetAddressBytes();
            var b = new byte[4];
            for (var i = 0; i < 4; i++) b[i] = (byte)(a[i] | ~m[i]);
            yield return IPAddress.IsLoopback(u.Address)
                ? BeaconInterface.Loopback
                : new BeaconInterface(n.Name, u.Address, new IPAddress(b), u.IPv4Mask);
        }
    }

    // For an error message: an interface whose properties cannot be read is listed without addresses.
    private static string Describe(NetworkInterface[] interfaces) =>
        string.Join(", ", interfaces.Select(n => $"{n.Name} ({string.Join(" ", FromInterface(n).Select(b => b.Address.ToString()))})"));
}
