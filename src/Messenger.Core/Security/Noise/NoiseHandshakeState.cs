using System.Security.Cryptography;

namespace Messenger.Security.Noise;

/// <summary>
/// The Noise HandshakeState (section 5.3) for one party. Create it with <see cref="Initialize(NoiseProtocol, bool, ReadOnlySpan{byte}, NoiseKeyPair?, NoiseKeyPair?, ReadOnlySpan{byte}, ReadOnlySpan{byte}, IReadOnlyList{byte[]}?)"/>,
/// then alternate <see cref="WriteMessage(ReadOnlySpan{byte}, Span{byte})"/> and
/// <see cref="ReadMessage(ReadOnlySpan{byte}, Span{byte})"/> as the pattern dictates
/// (<see cref="IsMyTurnToWrite"/>). After the last message <see cref="IsCompleted"/> is true and
/// <see cref="ToTransport"/> hands over the transport CipherStates. Any failure while processing a
/// message throws <see cref="NoiseException"/> and leaves the handshake unusable (abort the session).
/// Keys passed in are copied; the caller keeps ownership of its own objects.
/// </summary>
internal sealed class NoiseHandshakeState : IDisposable
{
    private readonly NoiseHandshakePattern _pattern;
    private readonly NoiseSymmetricState _symmetric;
    private readonly byte[][] _psks;
    private NoiseKeyPair? _s;
    private NoiseKeyPair? _e;
    private byte[]? _rs;
    private byte[]? _re;
    private int _pskIndex;
    private int _messageIndex;
    private bool _failed;
    private bool _disposed;
    private NoiseCipherState? _initiatorToResponder;
    private NoiseCipherState? _responderToInitiator;
    private byte[]? _handshakeHash;
    private bool _transportTaken;

    private NoiseHandshakeState(NoiseProtocol protocol, bool initiator, byte[][] psks)
    {
        Protocol = protocol;
        IsInitiator = initiator;
        _pattern = protocol.Pattern;
        _symmetric = new NoiseSymmetricState(protocol);
        _psks = psks;
    }

    /// <summary>The protocol being run.</summary>
    public NoiseProtocol Protocol { get; }

    /// <summary>True for the initiator.</summary>
    public bool IsInitiator { get; }

    /// <summary>True once the last handshake message has been written or read.</summary>
    public bool IsCompleted => _initiatorToResponder is not null || _transportTaken;

    /// <summary>True when the next step for this party is <see cref="WriteMessage(ReadOnlySpan{byte}, Span{byte})"/>.</summary>
    public bool IsMyTurnToWrite
        => !IsCompleted && !_failed && _pattern.Messages[_messageIndex].FromInitiator == IsInitiator;

    /// <summary>The remote static public key once known (pre-message or received), else empty.</summary>
    public ReadOnlySpan<byte> RemoteStaticPublicKey => _rs;

    /// <summary>
    /// Spec Initialize(). <paramref name="s"/>: local static key pair (required when the pattern sends or
    /// pre-shares it; ignored otherwise). <paramref name="e"/>: normally null (a fresh ephemeral is generated);
    /// supply it only for test vectors or for a pattern with an ephemeral pre-message. <paramref name="rs"/> /
    /// <paramref name="re"/>: remote keys known in advance (pre-messages only; a key the pattern transmits
    /// must not be supplied). <paramref name="psks"/>: one 32-byte key per psk token, in order.
    /// </summary>
    /// <exception cref="NoiseException">A required key is missing, a key has the wrong size, or an unexpected key is supplied.</exception>
    public static NoiseHandshakeState Initialize(
        NoiseProtocol protocol,
        bool initiator,
        ReadOnlySpan<byte> prologue = default,
        NoiseKeyPair? s = null,
        NoiseKeyPair? e = null,
        ReadOnlySpan<byte> rs = default,
        ReadOnlySpan<byte> re = default,
        IReadOnlyList<byte[]>? psks = null)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        NoiseHandshakePattern pattern = protocol.Pattern;
        string role = initiator ? "initiator" : "responder";

        if (pattern.RequiresLocalStatic(initiator) && s is null)
        {
            throw new NoiseException($"{pattern.Name} needs a local static key pair for the {role}.");
        }

        CheckRemoteKey(rs, pattern.RequiresRemoteStatic(initiator), "remote static", pattern.Name, role);
        CheckRemoteKey(re, pattern.RequiresRemoteEphemeral(initiator), "remote ephemeral", pattern.Name, role);
        if (pattern.RequiresLocalEphemeral(initiator) && e is null)
        {
            throw new NoiseException($"{pattern.Name} needs a pre-shared local ephemeral key pair for the {role}.");
        }

        int pskCount = psks?.Count ?? 0;
        if (pskCount != pattern.PskCount)
        {
            throw new NoiseException($"{pattern.Name} needs {pattern.PskCount} pre-shared key(s), got {pskCount}.");
        }

        byte[][] pskCopies = new byte[pskCount][];
        for (int i = 0; i < pskCount; i++)
        {
            byte[]? psk = psks![i];
            if (psk is null || psk.Length != NoiseConstants.PskLength)
            {
                throw new NoiseException($"Each Noise pre-shared key must be {NoiseConstants.PskLength} bytes.");
            }

            pskCopies[i] = (byte[])psk.Clone();
        }

        var state = new NoiseHandshakeState(protocol, initiator, pskCopies);
        try
        {
            state._s = pattern.RequiresLocalStatic(initiator) ? s!.Clone() : null;
            state._e = e?.Clone();
            state._rs = rs.IsEmpty ? null : rs.ToArray();
            state._re = re.IsEmpty ? null : re.ToArray();

            state._symmetric.MixHash(prologue);
            state.MixPreMessage(pattern.InitiatorPreMessage, fromInitiator: true);
            state.MixPreMessage(pattern.ResponderPreMessage, fromInitiator: false);
            return state;
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    /// <summary>Same as the <see cref="NoiseProtocol"/> overload, parsing <paramref name="protocolName"/> first.</summary>
    public static NoiseHandshakeState Initialize(
        string protocolName,
        bool initiator,
        ReadOnlySpan<byte> prologue = default,
        NoiseKeyPair? s = null,
        NoiseKeyPair? e = null,
        ReadOnlySpan<byte> rs = default,
        ReadOnlySpan<byte> re = default,
        IReadOnlyList<byte[]>? psks = null)
        => Initialize(NoiseProtocol.Parse(protocolName), initiator, prologue, s, e, rs, re, psks);

    /// <summary>Current handshake hash <c>h</c> (final once <see cref="IsCompleted"/>).</summary>
    public byte[] GetHandshakeHash()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _handshakeHash is null ? _symmetric.GetHandshakeHash() : (byte[])_handshakeHash.Clone();
    }

    /// <summary>Exact length of the next message this party writes with a payload of the given length.</summary>
    public int GetMessageLength(int payloadLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        CheckUsable();
        return GetOverhead(_pattern.Messages[_messageIndex]) + payloadLength;
    }

    /// <summary>Payload length carried by a next incoming message of the given length.</summary>
    /// <exception cref="NoiseException">The message is too short for the current pattern step.</exception>
    public int GetPayloadLength(int messageLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(messageLength);
        CheckUsable();
        int overhead = GetOverhead(_pattern.Messages[_messageIndex]);
        if (messageLength < overhead)
        {
            throw new NoiseException($"Noise handshake message {_messageIndex + 1} of {_pattern.Name} is truncated ({messageLength} < {overhead} bytes).");
        }

        return messageLength - overhead;
    }

    /// <summary>
    /// Spec WriteMessage: processes the next message pattern and writes the message (tokens, then the
    /// encrypted payload) into <paramref name="message"/>. Returns the bytes written. The buffers must not overlap.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="message"/> is too small (see <see cref="GetMessageLength"/>).</exception>
    /// <exception cref="NoiseException">Not this party's turn, the handshake is over or failed, or the message would exceed 65535 bytes.</exception>
    public int WriteMessage(ReadOnlySpan<byte> payload, Span<byte> message)
    {
        CheckUsable();
        NoiseMessagePattern pattern = _pattern.Messages[_messageIndex];
        if (pattern.FromInitiator != IsInitiator)
        {
            throw new NoiseException($"It is not the {(IsInitiator ? "initiator" : "responder")}'s turn to write.");
        }

        int length = GetOverhead(pattern) + payload.Length;
        if (length > NoiseConstants.MaxMessageLength)
        {
            throw new NoiseException($"A Noise message is limited to {NoiseConstants.MaxMessageLength} bytes; this one would be {length}.");
        }

        if (message.Length < length)
        {
            throw new ArgumentException($"The message buffer needs {length} bytes, got {message.Length}.", nameof(message));
        }

        try
        {
            int offset = 0;
            foreach (NoiseToken token in pattern.Tokens)
            {
                switch (token)
                {
                    case NoiseToken.E:
                        _e ??= NoiseKeyPair.Generate();
                        _e.PublicKey.CopyTo(message[offset..]);
                        MixEphemeral(_e.PublicKey);
                        offset += NoiseConstants.DhLength;
                        break;
                    case NoiseToken.S:
                        offset += _symmetric.EncryptAndHash(Required(_s, "local static").PublicKey, message[offset..]);
                        break;
                    case NoiseToken.Psk:
                        MixPsk();
                        break;
                    default:
                        MixDh(token);
                        break;
                }
            }

            offset += _symmetric.EncryptAndHash(payload, message[offset..]);
            AdvanceMessage();
            return offset;
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    /// <summary>Allocating form of <see cref="WriteMessage(ReadOnlySpan{byte}, Span{byte})"/>.</summary>
    public byte[] WriteMessage(ReadOnlySpan<byte> payload)
    {
        byte[] message = new byte[GetMessageLength(payload.Length)];
        WriteMessage(payload, message);
        return message;
    }

    /// <summary>
    /// Spec ReadMessage: processes the next message pattern from <paramref name="message"/> and decrypts the
    /// payload into <paramref name="payload"/>. Returns the payload length. The buffers must not overlap.
    /// </summary>
    /// <exception cref="NoiseException">
    /// Not this party's turn, the message is truncated or longer than 65535 bytes, authentication or DH
    /// failed, or <paramref name="payload"/> is too small (see <see cref="GetPayloadLength"/>).
    /// </exception>
    public int ReadMessage(ReadOnlySpan<byte> message, Span<byte> payload)
    {
        CheckUsable();
        NoiseMessagePattern pattern = _pattern.Messages[_messageIndex];
        if (pattern.FromInitiator == IsInitiator)
        {
            throw new NoiseException($"It is not the {(IsInitiator ? "initiator" : "responder")}'s turn to read.");
        }

        if (message.Length > NoiseConstants.MaxMessageLength)
        {
            _failed = true;
            throw new NoiseException($"A Noise message is limited to {NoiseConstants.MaxMessageLength} bytes; got {message.Length}.");
        }

        int payloadLength;
        try
        {
            payloadLength = GetPayloadLength(message.Length);
        }
        catch (NoiseException)
        {
            _failed = true;
            throw;
        }

        if (payload.Length < payloadLength)
        {
            throw new NoiseException($"The payload buffer needs {payloadLength} bytes, got {payload.Length}.");
        }

        try
        {
            int offset = 0;
            foreach (NoiseToken token in pattern.Tokens)
            {
                switch (token)
                {
                    case NoiseToken.E:
                        if (_re is not null)
                        {
                            throw new NoiseException("The remote ephemeral key was already received.");
                        }

                        _re = message.Slice(offset, NoiseConstants.DhLength).ToArray();
                        MixEphemeral(_re);
                        offset += NoiseConstants.DhLength;
                        break;
                    case NoiseToken.S:
                        if (_rs is not null)
                        {
                            throw new NoiseException("The remote static key was already known.");
                        }

                        int length = _symmetric.GetCiphertextLength(NoiseConstants.DhLength);
                        byte[] rs = new byte[NoiseConstants.DhLength];
                        _symmetric.DecryptAndHash(message.Slice(offset, length), rs);
                        _rs = rs;
                        offset += length;
                        break;
                    case NoiseToken.Psk:
                        MixPsk();
                        break;
                    default:
                        MixDh(token);
                        break;
                }
            }

            int written = _symmetric.DecryptAndHash(message[offset..], payload);
            AdvanceMessage();
            return written;
        }
        catch
        {
            _failed = true;
            CryptographicOperations.ZeroMemory(payload[..payloadLength]);
            throw;
        }
    }

    /// <summary>Allocating form of <see cref="ReadMessage(ReadOnlySpan{byte}, Span{byte})"/>.</summary>
    public byte[] ReadMessage(ReadOnlySpan<byte> message)
    {
        CheckUsable();
        if (message.Length > NoiseConstants.MaxMessageLength)
        {
            _failed = true;
            throw new NoiseException($"A Noise message is limited to {NoiseConstants.MaxMessageLength} bytes; got {message.Length}.");
        }

        int payloadLength;
        try
        {
            payloadLength = GetPayloadLength(message.Length);
        }
        catch (NoiseException)
        {
            _failed = true;
            throw;
        }

        byte[] payload = new byte[payloadLength];
        ReadMessage(message, payload);
        return payload;
    }

    /// <summary>
    /// Hands over the transport CipherStates (Split() output, oriented for this party) with the handshake
    /// hash and remote static key. Callable once, after <see cref="IsCompleted"/>; the caller owns the result.
    /// </summary>
    /// <exception cref="NoiseException">The handshake is not complete, or the transport was already taken.</exception>
    public NoiseTransport ToTransport()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_transportTaken)
        {
            throw new NoiseException("The transport of this handshake was already taken.");
        }

        if (_initiatorToResponder is null || _responderToInitiator is null || _handshakeHash is null)
        {
            throw new NoiseException("The Noise handshake is not complete.");
        }

        var transport = new NoiseTransport(IsInitiator, _pattern.IsOneWay, _initiatorToResponder, _responderToInitiator, _handshakeHash, _rs);
        _initiatorToResponder = null;
        _responderToInitiator = null;
        _transportTaken = true;
        return transport;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _symmetric.Dispose();
        _s?.Dispose();
        _e?.Dispose();
        foreach (byte[] psk in _psks)
        {
            CryptographicOperations.ZeroMemory(psk);
        }

        _initiatorToResponder?.Dispose();
        _responderToInitiator?.Dispose();
        _disposed = true;
    }

    public override string ToString()
        => $"NoiseHandshakeState({Protocol.Name}, {(IsInitiator ? "initiator" : "responder")}, message {Math.Min(_messageIndex + 1, _pattern.Messages.Count)}/{_pattern.Messages.Count}{(IsCompleted ? ", completed" : string.Empty)}{(_failed ? ", failed" : string.Empty)})";

    private static void CheckRemoteKey(ReadOnlySpan<byte> key, bool required, string what, string patternName, string role)
    {
        if (required && key.IsEmpty)
        {
            throw new NoiseException($"{patternName} needs the {what} public key in advance for the {role}.");
        }

        if (!required && !key.IsEmpty)
        {
            throw new NoiseException($"{patternName} does not take a {what} public key in advance for the {role}.");
        }

        if (!key.IsEmpty && key.Length != NoiseConstants.DhLength)
        {
            throw new NoiseException($"The {what} public key must be {NoiseConstants.DhLength} bytes, got {key.Length}.");
        }
    }

    private static T Required<T>(T? value, string what)
        where T : class
        => value ?? throw new NoiseException($"The Noise handshake has no {what} key at this step.");

    private void CheckUsable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_failed)
        {
            throw new NoiseException("The Noise handshake failed earlier and cannot continue.");
        }

        if (IsCompleted)
        {
            throw new NoiseException("The Noise handshake is already complete.");
        }
    }

    /// <summary>Bytes a message pattern adds around the payload, given whether a key is currently set.</summary>
    private int GetOverhead(NoiseMessagePattern pattern)
    {
        bool hasKey = _symmetric.HasKey;
        int length = 0;
        foreach (NoiseToken token in pattern.Tokens)
        {
            switch (token)
            {
                case NoiseToken.E:
                    length += NoiseConstants.DhLength;
                    hasKey |= _pattern.HasPsk;
                    break;
                case NoiseToken.S:
                    length += NoiseConstants.DhLength + (hasKey ? NoiseConstants.TagLength : 0);
                    break;
                default:
                    hasKey = true;
                    break;
            }
        }

        return length + (hasKey ? NoiseConstants.TagLength : 0);
    }

    private void MixPreMessage(NoiseMessagePattern? pre, bool fromInitiator)
    {
        if (pre is null)
        {
            return;
        }

        bool local = fromInitiator == IsInitiator;
        foreach (NoiseToken token in pre.Tokens)
        {
            if (token == NoiseToken.E)
            {
                MixEphemeral(local ? Required(_e, "local ephemeral").PublicKey : Required(_re, "remote ephemeral"));
            }
            else
            {
                _symmetric.MixHash(local ? Required(_s, "local static").PublicKey : Required(_rs, "remote static"));
            }
        }
    }

    private void MixEphemeral(ReadOnlySpan<byte> publicKey)
    {
        _symmetric.MixHash(publicKey);
        if (_pattern.HasPsk)
        {
            _symmetric.MixKey(publicKey);
        }
    }

    private void MixPsk()
    {
        if (_pskIndex >= _psks.Length)
        {
            throw new NoiseException("The Noise handshake ran out of pre-shared keys.");
        }

        _symmetric.MixKeyAndHash(_psks[_pskIndex++]);
    }

    private void MixDh(NoiseToken token)
    {
        (NoiseKeyPair? local, byte[]? remote, string what) = token switch
        {
            NoiseToken.EE => (_e, _re, "ee"),
            NoiseToken.ES => IsInitiator ? (_e, _rs, "es") : (_s, _re, "es"),
            NoiseToken.SE => IsInitiator ? (_s, _re, "se") : (_e, _rs, "se"),
            NoiseToken.SS => (_s, _rs, "ss"),
            _ => throw new NoiseException($"Unexpected Noise token {token}."),
        };

        Span<byte> shared = stackalloc byte[NoiseConstants.DhLength];
        try
        {
            Required(local, $"local key for '{what}'").Agree(Required(remote, $"remote key for '{what}'"), shared);
            _symmetric.MixKey(shared);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(shared);
        }
    }

    private void AdvanceMessage()
    {
        _messageIndex++;
        if (_messageIndex < _pattern.Messages.Count)
        {
            return;
        }

        (_initiatorToResponder, _responderToInitiator) = _symmetric.Split();
        _handshakeHash = _symmetric.GetHandshakeHash();

        // Forward secrecy: the ephemeral private key and the psks are no longer needed.
        _e?.Dispose();
        _e = null;
        foreach (byte[] psk in _psks)
        {
            CryptographicOperations.ZeroMemory(psk);
        }
    }
}
