namespace Messenger.Security.Noise;

/// <summary>
/// Raised for every Noise protocol failure: an unsupported or invalid protocol name, a missing or
/// malformed key, a message that is truncated, too long or fails authentication, a call made in the
/// wrong handshake state, or an exhausted nonce. Messages never contain key material.
/// </summary>
internal sealed class NoiseException : Exception
{
    public NoiseException()
    {
    }

    public NoiseException(string message)
        : base(message)
    {
    }

    public NoiseException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
