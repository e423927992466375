using Messenger.Security.Aead;
using Xunit;

namespace Messenger.Core.Tests.Security;

/// <summary>A fact that needs the processor's AES and carry-less multiply instructions, skipped where they lack.</summary>
public sealed class AesInstructionsFactAttribute : FactAttribute
{
    /// <summary>Why such a test is skipped here, or null where the instructions are there (so it runs).</summary>
    internal static string? SkipReason => IntrinsicAesGcm.IsSupported ? null : "this processor lacks AES-NI, PCLMULQDQ or SSSE3";

    public AesInstructionsFactAttribute() => Skip = SkipReason;
}
