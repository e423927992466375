namespace Messenger;

/// <summary>The base of every error Messenger raises on purpose. <see cref="ErrorId"/> is stable: scripts and
/// the PowerShell module key on it.</summary>
public class MessengerException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MessengerException(string errorId, string message, Exception? inner = null)
        : base(message, inner) => ErrorId = errorId;

    /// <summary>A stable identifier of the kind of error, such as "PeerNotFound".</summary>
    public string ErrorId { get; }
}
