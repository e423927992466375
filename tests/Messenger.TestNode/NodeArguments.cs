using System.Globalization;

namespace Messenger.TestNode;

/// <summary>The command line of the test node, turned into <see cref="MessengerNodeOptions"/>.</summary>
internal sealed class NodeArguments
{
    public const string Usage =
        "Messenger.TestNode [--name N] [--cluster C] [--cluster-key BASE64 | --cluster-key-path FILE] [--key-path FILE] " +
        "[--bind ADDRESS] [--advertised-host HOST] [--beacon-interface IF] [--beacon-port P] [--no-beacon] [--seed tcp://host:port]... " +
        "[--port P] [--publish-port P] [--data-port P] [--heartbeat-ms MS] [--timeout-ms MS] [--gone-ms MS] [--log trace|debug|information|warning|error|none]";

    public MessengerNodeOptions Options { get; private set; } = MessengerNodeOptions.Default;

    public string LogLevel { get; private set; } = "warning";

    /// <summary>Parses the arguments; throws <see cref="ArgumentException"/> with a readable message on a bad one.
    /// Option values are checked by the engine when the node starts.</summary>
    public static NodeArguments Parse(IReadOnlyList<string> args)
    {
        var result = new NodeArguments();
        var o = MessengerNodeOptions.Default;
        var seeds = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            string Value()
            {
                if (inline is not null) return inline;
                if (i + 1 >= args.Count) throw new ArgumentException($"{arg} needs a value.");
                return args[++i];
            }

            int Int() => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n)
                ? n
                : throw new ArgumentException($"{arg} needs a whole number.");

            TimeSpan Millis() => TimeSpan.FromMilliseconds(Int());

            switch (arg)
            {
                case "--name": o = o with { Name = Value() }; break;
                case "--cluster": o = o with { Cluster = Value() }; break;
                case "--cluster-key": o = o with { ClusterKey = ClusterKey.FromBase64(Value()) }; break;
                case "--cluster-key-path": o = o with { ClusterKeyPath = Value() }; break;
                case "--key-path": o = o with { KeyPath = Value() }; break;
                case "--bind": o = o with { BindAddress = Value() }; break;
                case "--advertised-host": o = o with { AdvertisedHost = Value() }; break;
                case "--beacon-interface": o = o with { BeaconInterface = Value() }; break;
                case "--beacon-port": o = o with { BeaconPort = Int() }; break;
                case "--no-beacon":
                    if (inline is not null) throw new ArgumentException("--no-beacon takes no value.");
                    o = o with { BeaconEnabled = false };
                    break;
                case "--seed": seeds.Add(Value()); break;
                case "--port": o = o with { Port = Int() }; break;
                case "--publish-port": o = o with { PublishPort = Int() }; break;
                case "--data-port": o = o with { DataPort = Int() }; break;
                case "--heartbeat-ms": o = o with { HeartbeatInterval = Millis() }; break;
                case "--timeout-ms": o = o with { PeerTimeout = Millis() }; break;
                case "--gone-ms": o = o with { PeerGoneAfter = Millis() }; break;
                case "--log": result.LogLevel = Value().ToLowerInvariant(); break;
                case "--help" or "-h": throw new ArgumentException(Usage);
                default: throw new ArgumentException($"unknown option '{args[i]}'. Usage: {Usage}");
            }
        }
        result.Options = o with { Seeds = seeds };
        return result;
    }
}
