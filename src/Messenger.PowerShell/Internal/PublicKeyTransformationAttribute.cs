using System.Management.Automation;

namespace Messenger.PowerShell.Internal;

/// <summary>Lets -AllowedKey take key pairs and nodes as well as base64 public keys: each becomes its public key.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class PublicKeyTransformationAttribute : ArgumentTransformationAttribute
{
    /// <inheritdoc/>
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject pso ? pso.BaseObject : inputData;
        if (value is string or null) return inputData!;
        if (value is System.Collections.IEnumerable items)
        {
            var keys = new List<object>();
            foreach (var item in items) keys.Add(One(item));
            return keys.ToArray();
        }
        return One(value);
    }

    private static object One(object? item)
    {
        var value = item is PSObject pso ? pso.BaseObject : item;
        return value switch
        {
            MessengerKeyPair pair => pair.PublicKey,
            MessengerNodeInfo node => node.PublicKey,
            _ => item!,
        };
    }
}
