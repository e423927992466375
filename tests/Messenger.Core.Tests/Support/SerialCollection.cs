namespace Messenger.Tests.Support;

/// <summary>Tests that count the process's threads or file descriptors run alone, after the parallel ones, so
/// that other tests' sockets do not count against them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial";
}
