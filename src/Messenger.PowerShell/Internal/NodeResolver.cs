using System.Management.Automation;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// The node a -Node argument names: a node object, a node name, a peer row (the node that sees that peer), or
/// nothing for the session's only node. Shared by every cmdlet that takes -Node, whatever its base class.
/// </summary>
internal static class NodeResolver
{
    /// <summary>The node, or null with <paramref name="error"/> (NodeNotFound, NodeNotSpecified or
    /// InvalidNodeArgument) for the caller to terminate with.</summary>
    public static MessengerNodeInfo? Resolve(object? node, out ErrorRecord? error)
    {
        error = null;
        if (node is PSObject pso) node = pso.BaseObject;
        switch (node)
        {
            case MessengerNodeInfo info:
                return info;
            case null:
                var all = NodeRegistry.All;
                if (all.Length == 1) return all[0];
                error = all.Length == 0 ? ErrorFactory.NoNodes() : ErrorFactory.NodeNotSpecifiedError(all);
                return null;
            case var _ when AsName(node) is { } name:
                if (NodeRegistry.TryGet(name, out var found)) return found;
                error = ErrorFactory.NodeNotFoundByName(name);
                return null;
            case MessengerPeerInfo peer:
                // A peer row names the node that sees it: Get-MessengerPeer -Node a | Wait-MessengerPeer ...
                return Resolve(peer.Node, out error);
            default:
                error = ErrorFactory.InvalidNode(node);
                return null;
        }
    }

    /// <summary>The node name a -Node argument gives: a string, or a whole number, as PowerShell binds a bare
    /// <c>1</c> (a node started by <c>1..3 | Start-MessengerNode</c> is named "1"); null for anything else.</summary>
    public static string? AsName(object? value) => value switch
    {
        string name => name,
        int or long or short or byte or sbyte or uint or ulong or ushort => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
        _ => null,
    };
}
