namespace Messenger.Supervision;

/// <summary>The failure a test injected into an actor.</summary>
internal sealed class InjectedFaultException(string actor) : Exception($"fault injected into {actor}")
{
    public string Actor { get; } = actor;
}
