using System.Management.Automation;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// A -Timeout in seconds: zero or more, or exactly -1 for no limit. A value between -1 and 0 (a computed deadline
/// already past, say) is an error, not a wait without end.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
internal sealed class ValidateTimeoutAttribute : ValidateArgumentsAttribute
{
    /// <inheritdoc/>
    protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
    {
        var seconds = System.Convert.ToDouble(arguments is PSObject pso ? pso.BaseObject : arguments, System.Globalization.CultureInfo.InvariantCulture);
        if (seconds != -1 && !(seconds >= 0))
            throw new ValidationMetadataException($"The timeout {seconds} s is neither zero or more seconds nor -1 (no limit).");
    }
}
