using System.Globalization;
using System.Management.Automation;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// Lets a TimeSpan parameter take a number of seconds (2, 0.5, '1.5') as well as a TimeSpan or a TimeSpan string
/// ('00:00:02'). Without it PowerShell would read 2 as two ticks.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class SecondsTransformationAttribute : ArgumentTransformationAttribute
{
    /// <inheritdoc/>
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject pso ? pso.BaseObject : inputData;
        switch (value)
        {
            case TimeSpan:
                return value;
            case int or long or short or byte or double or float or decimal:
                return FromSeconds(System.Convert.ToDouble(value, CultureInfo.InvariantCulture));
            case string text when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds):
                return FromSeconds(seconds);
            case string text when TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span):
                return span;
            default:
                throw new ArgumentTransformationMetadataException($"'{inputData}' is neither a number of seconds nor a TimeSpan.");
        }
    }

    private static TimeSpan FromSeconds(double seconds)
    {
        if (double.IsNaN(seconds) || seconds < 0 || seconds > TimeSpan.MaxValue.TotalSeconds)
            throw new ArgumentTransformationMetadataException($"{seconds} is not a number of seconds (0 or more).");
        return TimeSpan.FromSeconds(seconds);
    }
}
