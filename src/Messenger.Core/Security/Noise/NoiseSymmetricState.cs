using System.Security.Cryptography;

namespace Messenger.Security.Noise;

/// <summary>
/// The Noise SymmetricState (section 5.2): a CipherState plus the chaining key <c>ck</c> and the
/// handshake hash <c>h</c>, with SHA256 / HMAC-SHA256 (HASHLEN 32, BLOCKLEN 64).
/// </summary>
internal sealed class NoiseSymmetricState : IDisposable
{
    private const int HashLength = NoiseConstants.HashLength;

    private readonly NoiseCipherState _cipher;
    private readonly byte[] _ck = new byte[HashLength];
    private readonly byte[] _h = new byte[HashLength];
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private bool _disposed;

    /// <summary>Spec InitializeSymmetric(protocol_name).</summary>
    public NoiseSymmetricState(NoiseCipher cipher, ReadOnlySpan<byte> protocolName)
    {
        _cipher = new NoiseCipherState(cipher);
        if (protocolName.Length <= HashLength)
        {
            protocolName.CopyTo(_h);
        }
        else
        {
            SHA256.HashData(protocolName, _h);
        }

        _h.CopyTo(_ck, 0);
    }

    /// <summary>Spec InitializeSymmetric for a parsed protocol.</summary>
    public NoiseSymmetricState(NoiseProtocol protocol)
        : this(protocol.Cipher, protocol.NameBytes)
    {
    }

    /// <summary>The cipher function.</summary>
    public NoiseCipher Cipher => _cipher.Cipher;

    /// <summary>True once MixKey / MixKeyAndHash has set a key.</summary>
    public bool HasKey => _cipher.HasKey;

    /// <summary>Spec MixKey: <c>ck, temp_k = HKDF(ck, ikm, 2)</c>; InitializeKey(temp_k).</summary>
    public void MixKey(ReadOnlySpan<byte> inputKeyMaterial)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Span<byte> tempKey = stackalloc byte[HashLength];
        try
        {
            NoiseHkdf.Derive(_ck, inputKeyMaterial, _ck, tempKey, []);
            _cipher.InitializeKey(tempKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(tempKey);
        }
    }

    /// <summary>Spec MixHash: <c>h = HASH(h || data)</c>.</summary>
    public void MixHash(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ComputeMixedHash(data, _h);
    }

    /// <summary>
    /// Spec MixKeyAndHash: <c>ck, temp_h, temp_k = HKDF(ck, ikm, 3)</c>; MixHash(temp_h); InitializeKey(temp_k).
    /// </summary>
    public void MixKeyAndHash(ReadOnlySpan<byte> inputKeyMaterial)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Span<byte> tempHash = stackalloc byte[HashLength];
        Span<byte> tempKey = stackalloc byte[HashLength];
        try
        {
            NoiseHkdf.Derive(_ck, inputKeyMaterial, _ck, tempHash, tempKey);
            MixHash(tempHash);
            _cipher.InitializeKey(tempKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(tempHash);
            CryptographicOperations.ZeroMemory(tempKey);
        }
    }

    /// <summary>Spec GetHandshakeHash: a copy of <c>h</c>.</summary>
    public byte[] GetHandshakeHash()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return (byte[])_h.Clone();
    }

    /// <summary>Length EncryptAndHash will produce for a plaintext of the given length.</summary>
    public int GetCiphertextLength(int plaintextLength) => _cipher.GetCiphertextLength(plaintextLength);

    /// <summary>
    /// Spec EncryptAndHash: <c>ciphertext = EncryptWithAd(h, plaintext)</c>; MixHash(ciphertext).
    /// Returns the bytes written to <paramref name="ciphertext"/>.
    /// </summary>
    public int EncryptAndHash(ReadOnlySpan<byte> plaintext, Span<byte> ciphertext)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int written = _cipher.EncryptWithAd(_h, plaintext, ciphertext);
        MixHash(ciphertext[..written]);
        return written;
    }

    /// <summary>Allocating form of <see cref="EncryptAndHash(ReadOnlySpan{byte}, Span{byte})"/>.</summary>
    public byte[] EncryptAndHash(ReadOnlySpan<byte> plaintext)
    {
        byte[] ciphertext = new byte[GetCiphertextLength(plaintext.Length)];
        EncryptAndHash(plaintext, ciphertext);
        return ciphertext;
    }

    /// <summary>
    /// Spec DecryptAndHash: <c>plaintext = DecryptWithAd(h, ciphertext)</c>; MixHash(ciphertext).
    /// <c>h</c> only changes when decryption succeeds. The buffers may be the same memory.
    /// </summary>
    /// <exception cref="NoiseException">Authentication failed or lengths are wrong.</exception>
    public int DecryptAndHash(ReadOnlySpan<byte> ciphertext, Span<byte> plaintext)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        // Hash the ciphertext first: decryption may overwrite it when done in place.
        Span<byte> nextHash = stackalloc byte[HashLength];
        ComputeMixedHash(ciphertext, nextHash);
        int written = _cipher.DecryptWithAd(_h, ciphertext, plaintext);
        nextHash.CopyTo(_h);
        return written;
    }

    /// <summary>Allocating form of <see cref="DecryptAndHash(ReadOnlySpan{byte}, Span{byte})"/>.</summary>
    /// <exception cref="NoiseException">Authentication failed or lengths are wrong.</exception>
    public byte[] DecryptAndHash(ReadOnlySpan<byte> ciphertext)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ciphertext.Length > NoiseConstants.MaxMessageLength)
        {
            throw new NoiseException($"A Noise message is limited to {NoiseConstants.MaxMessageLength} bytes; got {ciphertext.Length}.");
        }

        byte[] plaintext = new byte[_cipher.GetPlaintextLength(ciphertext.Length)];
        DecryptAndHash(ciphertext, plaintext);
        return plaintext;
    }

    /// <summary>
    /// Spec Split: <c>temp_k1, temp_k2 = HKDF(ck, empty, 2)</c>; returns two new CipherStates
    /// (c1 for initiator-to-responder, c2 for responder-to-initiator). Zeroes <c>ck</c> afterwards;
    /// <c>h</c> stays readable.
    /// </summary>
    public (NoiseCipherState Initiator, NoiseCipherState Responder) Split()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Span<byte> key1 = stackalloc byte[HashLength];
        Span<byte> key2 = stackalloc byte[HashLength];
        try
        {
            NoiseHkdf.Derive(_ck, [], key1, key2, []);
            var c1 = new NoiseCipherState(Cipher, key1);
            var c2 = new NoiseCipherState(Cipher, key2);
            CryptographicOperations.ZeroMemory(_ck);
            _cipher.InitializeKey([]);
            return (c1, c2);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key1);
            CryptographicOperations.ZeroMemory(key2);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        CryptographicOperations.ZeroMemory(_ck);
        CryptographicOperations.ZeroMemory(_h);
        _cipher.Dispose();
        _hash.Dispose();
        _disposed = true;
    }

    public override string ToString() => $"NoiseSymmetricState({Cipher}, hasKey={HasKey})";

    private void ComputeMixedHash(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        _hash.AppendData(_h);
        _hash.AppendData(data);
        _hash.GetHashAndReset(destination);
    }
}
