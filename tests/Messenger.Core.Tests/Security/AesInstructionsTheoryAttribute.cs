using Xunit;

namespace Messenger.Core.Tests.Security;

/// <summary>A theory that needs the processor's AES and carry-less multiply instructions, skipped where they lack.</summary>
public sealed class AesInstructionsTheoryAttribute : TheoryAttribute
{
    public AesInstructionsTheoryAttribute() => Skip = AesInstructionsFactAttribute.SkipReason;
}
