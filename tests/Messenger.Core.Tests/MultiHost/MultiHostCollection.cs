namespace Messenger.Tests.MultiHost;

/// <summary>The multi-host tests run one at a time and after the parallel tests: they start several node
/// processes and measure failure-detection times, which CPU contention from other tests would distort.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MultiHostCollection
{
    public const string Name = "MultiHost";
}
