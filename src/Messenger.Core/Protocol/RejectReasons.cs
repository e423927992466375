namespace Messenger.Protocol;

/// <summary>The stable names of <see cref="RejectReason"/>s: the <c>reason</c> tag values of
/// <c>messenger.frames.rejected</c>, also used in log event 1302. Constant strings, so tagging costs nothing per
/// frame.</summary>
internal static class RejectReasons
{
    private static readonly string[] s_tags =
    [
        "none",
        "truncated",
        "bad-magic",
        "bad-version",
        "unknown-type",
        "wrong-socket",
        "multipart",
        "no-session",
        "no-handshake",
        "malformed-hello",
        "bad-handshake",
        "authentication",
        "duplicate",
        "invalid",
        "gap",
        "bad-beacon",
    ];

    public static int Count => s_tags.Length;

    public static string Tag(RejectReason reason) => (int)reason < s_tags.Length ? s_tags[(int)reason] : "invalid";
}
