namespace Messenger;

/// <summary>The life cycle of a <see cref="MessengerNode"/>.</summary>
public enum NodeState
{
    /// <summary>Binding its sockets.</summary>
    Starting,

    /// <summary>Listening, discovering and exchanging messages.</summary>
    Running,

    /// <summary>Telling its peers it leaves and closing its sockets.</summary>
    Stopping,

    /// <summary>Stopped: every socket closed and every thread joined.</summary>
    Stopped,

    /// <summary>Stopped because a part failed beyond repair.</summary>
    Faulted,
}
