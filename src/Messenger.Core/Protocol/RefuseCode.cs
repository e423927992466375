namespace Messenger.Protocol;

/// <summary>Why a node refused a HELLO (the code byte of REFUSE).</summary>
internal enum RefuseCode : byte
{
    UnsupportedVersion = 1,
    WrongCluster = 2,
    NameInUse = 3,
    Malformed = 4,
    TooManyPeers = 5,
    SelfConnection = 6,
    ClusterKeyMismatch = 7,
    NotAllowed = 8,
    IdentityMismatch = 9,
    Busy = 10,
}
