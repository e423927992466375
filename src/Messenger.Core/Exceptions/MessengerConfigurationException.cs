namespace Messenger;

/// <summary>An option of <see cref="MessengerNodeOptions"/> is invalid; the node did not start.</summary>
public sealed class MessengerConfigurationException : MessengerException
{
    /// <summary>Creates the exception.</summary>
    public MessengerConfigurationException(string option, string message, Exception? inner = null)
        : base("InvalidConfiguration", $"{option}: {message}", inner) => Option = option;

    /// <summary>The option at fault.</summary>
    public string Option { get; }
}
