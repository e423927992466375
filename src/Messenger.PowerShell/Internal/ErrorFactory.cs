using System.Management.Automation;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// Every ErrorRecord the module writes. The ErrorId is stable (scripts and tests key on it): the engine's
/// <see cref="MessengerException.ErrorId"/> where the engine raised the error, else one of the ids here.
/// </summary>
internal static class ErrorFactory
{
    public const string NodeNotFound = "NodeNotFound";
    public const string NodeNotSpecified = "NodeNotSpecified";
    public const string NodeNameInUse = "NodeNameInUse";
    public const string ReceiveTimeout = "ReceiveTimeout";
    public const string InvalidNodeArgument = "InvalidNodeArgument";
    public const string InvalidText = "InvalidText";

    public static ErrorRecord FromException(MessengerException e, object? target) =>
        new(e, e.ErrorId, Category(e.ErrorId), target);

    public static ErrorRecord NoNodes() => Create(
        NodeNotFound,
        "No Messenger node runs in this session. Start one with Start-MessengerNode.",
        null);

    public static ErrorRecord NodeNotFoundByName(string name) => Create(
        NodeNotFound,
        $"No Messenger node named '{name}' runs in this session. Get-MessengerNode lists the running ones.",
        name);

    public static ErrorRecord NodeNotSpecifiedError(IReadOnlyList<MessengerNodeInfo> nodes) => Create(
        NodeNotSpecified,
        $"Several Messenger nodes run in this session ({string.Join(", ", nodes.Select(n => n.Name))}); say which one with -Node.",
        null);

    public static ErrorRecord NodeNameInUseError(string name) => Create(
        NodeNameInUse,
        $"A Messenger node named '{name}' already runs in this session. Choose another -Name, or stop it first with Stop-MessengerNode -Node {name}.",
        name);

    public static ErrorRecord InvalidNode(object? value) => Create(
        InvalidNodeArgument,
        $"-Node takes a node object (from Start-MessengerNode or Get-MessengerNode) or a node name, not {(value is null ? "$null" : "a " + value.GetType().Name)}.",
        value);

    public static ErrorRecord ReceiveTimeoutError(string node, int received, int wanted, TimeSpan timeout) => Create(
        ReceiveTimeout,
        $"Node '{node}' received {received} of {wanted} messages in {timeout.TotalSeconds:0.###} s.",
        node);

    public static ErrorRecord InvalidTextError(int index, object target) => Create(
        InvalidText,
        $"The message text holds half of a surrogate pair (at index {index}), which UTF-8 cannot carry: it would arrive as another text, with U+FFFD in its place. It was not sent.",
        target);

    public static ErrorRecord PeerNotFound(string node, string peer) =>
        new(new PeerNotFoundException(peer), "PeerNotFound", ErrorCategory.ObjectNotFound, $"{node}:{peer}");

    public static ErrorCategory Category(string errorId) => errorId switch
    {
        "PeerNotFound" or NodeNotFound => ErrorCategory.ObjectNotFound,
        NodeNotSpecified or InvalidNodeArgument or "InvalidConfiguration" or "InvalidTopic" or InvalidText => ErrorCategory.InvalidArgument,
        NodeNameInUse => ErrorCategory.ResourceExists,
        "PeerWaitTimeout" or ReceiveTimeout => ErrorCategory.OperationTimeout,
        "NodeStopped" => ErrorCategory.ResourceUnavailable,
        "MessageTooLarge" => ErrorCategory.LimitsExceeded,
        "AckTimeout" => ErrorCategory.OperationTimeout,
        "NotAcknowledged" or "HandshakeRefused" => ErrorCategory.ConnectionError,
        "SeedIsThisNode" => ErrorCategory.InvalidArgument,
        _ => ErrorCategory.NotSpecified,
    };

    private static ErrorRecord Create(string errorId, string message, object? target) =>
        new(new MessengerException(errorId, message), errorId, Category(errorId), target);
}
