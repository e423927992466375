using System.Security.Cryptography;

namespace Messenger.Security.Noise;

/// <summary>
/// The result of a completed handshake: the two transport CipherStates, oriented for this party
/// (<see cref="SendCipher"/> / <see cref="ReceiveCipher"/>), the handshake hash (for channel binding)
/// and the remote static public key if the pattern carried one. For one-way patterns (N, K, X) only
/// the initiator sends and only the responder receives. Not thread-safe per direction.
/// </summary>
internal sealed class NoiseTransport : IDisposable
{
    private readonly NoiseCipherState? _send;
    private readonly NoiseCipherState? _receive;
    private readonly byte[] _handshakeHash;
    private readonly byte[] _remoteStaticPublicKey;
    private bool _disposed;

    /// <summary>
    /// Orients the Split() output: the initiator sends with <paramref name="initiatorToResponder"/>, the
    /// responder with <paramref name="responderToInitiator"/>. For one-way patterns the second one is disposed.
    /// Takes ownership of both CipherStates.
    /// </summary>
    public NoiseTransport(
        bool isInitiator,
        bool isOneWay,
        NoiseCipherState initiatorToResponder,
        NoiseCipherState responderToInitiator,
        ReadOnlySpan<byte> handshakeHash,
        ReadOnlySpan<byte> remoteStaticPublicKey)
    {
        ArgumentNullException.ThrowIfNull(initiatorToResponder);
        ArgumentNullException.ThrowIfNull(responderToInitiator);
        IsInitiator = isInitiator;
        IsOneWay = isOneWay;
        if (isOneWay)
        {
            responderToInitiator.Dispose();
            _send = isInitiator ? initiatorToResponder : null;
            _receive = isInitiator ? null : initiatorToResponder;
        }
        else
        {
            _send = isInitiator ? initiatorToResponder : responderToInitiator;
            _receive = isInitiator ? responderToInitiator : initiatorToResponder;
        }

        _handshakeHash = handshakeHash.ToArray();
        _remoteStaticPublicKey = remoteStaticPublicKey.ToArray();
    }

    /// <summary>True on the initiator's side.</summary>
    public bool IsInitiator { get; }

    /// <summary>True for one-way patterns: no responder-to-initiator traffic.</summary>
    public bool IsOneWay { get; }

    /// <summary>Whether this side may send (false only for a one-way responder).</summary>
    public bool CanSend => _send is not null;

    /// <summary>Whether this side may receive (false only for a one-way initiator).</summary>
    public bool CanReceive => _receive is not null;

    /// <summary>The outbound CipherState.</summary>
    /// <exception cref="NoiseException">One-way responder (it cannot send).</exception>
    public NoiseCipherState SendCipher
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _send ?? throw new NoiseException("The responder of a one-way Noise pattern cannot send.");
        }
    }

    /// <summary>The inbound CipherState.</summary>
    /// <exception cref="NoiseException">One-way initiator (it cannot receive).</exception>
    public NoiseCipherState ReceiveCipher
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _receive ?? throw new NoiseException("The initiator of a one-way Noise pattern cannot receive.");
        }
    }

    /// <summary>The final handshake hash <c>h</c> (32 bytes), identical on both sides.</summary>
    public ReadOnlySpan<byte> HandshakeHash => _handshakeHash;

    /// <summary>The peer's static public key (32 bytes), or empty if the pattern has none.</summary>
    public ReadOnlySpan<byte> RemoteStaticPublicKey => _remoteStaticPublicKey;

    /// <summary>Encrypts a transport message into <paramref name="message"/>; returns its length (payload + 16).</summary>
    public int Encrypt(ReadOnlySpan<byte> payload, Span<byte> message) => SendCipher.Encrypt(payload, message);

    /// <summary>Encrypts a transport message.</summary>
    public byte[] Encrypt(ReadOnlySpan<byte> payload) => SendCipher.Encrypt(payload);

    /// <summary>Decrypts a transport message into <paramref name="payload"/>; returns the payload length.</summary>
    /// <exception cref="NoiseException">Authentication failed or the message is malformed.</exception>
    public int Decrypt(ReadOnlySpan<byte> message, Span<byte> payload) => ReceiveCipher.Decrypt(message, payload);

    /// <summary>Decrypts a transport message.</summary>
    /// <exception cref="NoiseException">Authentication failed or the message is malformed.</exception>
    public byte[] Decrypt(ReadOnlySpan<byte> message) => ReceiveCipher.Decrypt(message);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _send?.Dispose();
        _receive?.Dispose();
        CryptographicOperations.ZeroMemory(_handshakeHash);
        _disposed = true;
    }

    public override string ToString()
        => $"NoiseTransport({(IsInitiator ? "initiator" : "responder")}{(IsOneWay ? ", one-way" : string.Empty)})";
}
