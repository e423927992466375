using Messenger.Security.Aead;
using Xunit;

namespace Messenger.Core.Tests.Security;

/// <summary>A fact that needs the processor's AES and carry-less multiply instructions, skipped where they lack.</summary>
public sealed class AesInstructionsFactAttribute : FactAttribute
{
    public AesInstructionsFactAttribute()
    {
        if (!IntrinsicAesGcm.IsSupported) Skip = "this processor lacks AES-NI, PCLMULQDQ or SSSE3";
    }
}
