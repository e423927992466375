using System.Management.Automation;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// Stops the session's nodes when the module is removed (those this runspace started: other runspaces of the process
/// may use theirs still) or the process exits (every node), so that peers see them leave at once (a LEAVE message)
/// rather than after their peer timeout.
/// </summary>
public sealed class ModuleLifetime : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private static int _hooked;

    /// <summary>Called by Import-Module.</summary>
    public void OnImport()
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => NodeRegistry.StopAll(TimeSpan.FromSeconds(2));
        }
    }

    /// <summary>Called by Remove-Module.</summary>
    public void OnRemove(PSModuleInfo psModuleInfo)
    {
        if (System.Management.Automation.Runspaces.Runspace.DefaultRunspace is { } runspace) NodeRegistry.StopStartedIn(runspace.InstanceId, TimeSpan.FromSeconds(5));
    }
}
