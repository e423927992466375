namespace Messenger.Supervision;

/// <summary>Test-only faults a node can be told to suffer (internal: not part of the public API). The node's
/// poller thread reads and clears them.</summary>
internal sealed class FaultInjection
{
    private int _forgetSessions;

    /// <summary>At its next frame, the node forgets every inbound session, as if its unicast socket had been
    /// replaced: what arrives on the old sessions is lost and answered RESET.</summary>
    public void ForgetSessions() => Interlocked.Exchange(ref _forgetSessions, 1);

    public bool TakeForgetSessions() => Interlocked.Exchange(ref _forgetSessions, 0) == 1;
}
