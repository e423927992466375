using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;

namespace Messenger.TestNode;

/// <summary>
/// One Messenger node in a process of its own, for tests that run nodes on several hosts (network namespaces).
/// Options come from the command line (see <see cref="NodeArguments.Usage"/>). On stdout it writes one JSON object
/// per line: "started", "joined", "unreachable", "left", "message", answers to commands ("sent", "peers",
/// "waited", "info"), "error" and finally "stopped". On stdin it takes commands (<see cref="Command"/>). It stops
/// cleanly on "stop", at the end of stdin, or on SIGTERM/SIGINT; bad input is answered with an "error" line and
/// never ends the process. Exit codes: 0 stopped cleanly, 2 bad options (the node did not start), 1 anything else.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var output = new EventWriter(Console.Out);
        try
        {
            return await RunAsync(args, output);
        }
        catch (Exception e)
        {
            output.Error($"unexpected failure: {e}");
            return 1;
        }
    }

    private static async Task<int> RunAsync(string[] args, EventWriter output)
    {
        MessengerNode node;
        try
        {
            var parsed = NodeArguments.Parse(args);
            var level = StderrLoggerFactory.ParseLevel(parsed.LogLevel);
            var options = parsed.Options with
            {
                LoggerFactory = level == Microsoft.Extensions.Logging.LogLevel.None ? NullLoggerFactory.Instance : new StderrLoggerFactory(level, parsed.Options.Name),
            };
            output.Node = options.Name;
            node = await MessengerNode.StartAsync(options);
        }
        catch (ArgumentException e)
        {
            output.Error(e.Message, "InvalidArguments");
            return 2;
        }
        catch (MessengerException e)
        {
            output.Error(e.Message, e.ErrorId);
            return 2;
        }

        var stop = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult("SIGTERM"); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult("SIGINT"); });
        using var reading = new CancellationTokenSource();

        node.PeerJoined += (_, e) => WritePeer(output, "joined", e);
        node.PeerUnreachable += (_, e) => WritePeer(output, "unreachable", e);
        node.PeerLeft += (_, e) => WritePeer(output, "left", e);
        node.MessageDropped += (_, e) => output.Write("dropped", json =>
        {
            json.WriteString("peer", e.Peer);
            json.WriteString("reason", e.Reason);
        });
        output.Write("started", json => WriteInfo(json, node));

        var receiver = Task.Run(() => ReceiveAsync(node, output, reading.Token));
        var lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var stdin = new Thread(() => ReadStdin(lines.Writer, output)) { IsBackground = true, Name = "stdin" };
        stdin.Start();

        string reason;
        try
        {
            reason = await CommandLoopAsync(node, output, lines.Reader, stop.Task);
        }
        finally
        {
            await node.DisposeAsync();
            await reading.CancelAsync();
            try
            {
                await receiver;
            }
            catch (OperationCanceledException)
            {
            }
        }
        output.Write("stopped", json => json.WriteString("reason", reason));
        return 0;
    }

    private static async Task<string> CommandLoopAsync(MessengerNode node, EventWriter output, ChannelReader<string> lines, Task<string> stop)
    {
        while (true)
        {
            var more = lines.WaitToReadAsync().AsTask();
            if (await Task.WhenAny(more, stop) == stop) return await stop;
            if (!await more) return "end of input";
            while (lines.TryRead(out var line))
            {
                Command? command;
                try
                {
                    command = Command.Parse(line);
                }
                catch (FormatException e)
                {
                    output.Error(e.Message, "BadCommand", line);
                    continue;
                }
                if (command is null) continue;
                if (command.Name == "stop") return "stop command";
                await ExecuteAsync(node, output, command);
            }
        }
    }

    private static async Task ExecuteAsync(MessengerNode node, EventWriter output, Command command)
    {
        try
        {
            switch (command.Name)
            {
                case "send":
                    await node.SendAsync(command.To!, command.Text!, command.Topic);
                    output.Write("sent", json =>
                    {
                        json.WriteString("kind", "unicast");
                        json.WriteString("to", command.To);
                        json.WriteString("text", command.Text);
                        WriteRequestId(json, command);
                    });
                    break;
                case "broadcast":
                    await node.BroadcastAsync(command.Text!, command.Topic);
                    output.Write("sent", json =>
                    {
                        json.WriteString("kind", "broadcast");
                        json.WriteString("text", command.Text);
                        WriteRequestId(json, command);
                    });
                    break;
                case "peers":
                    var peers = node.GetPeers();
                    output.Write("peers", json =>
                    {
                        json.WriteStartArray("peers");
                        foreach (var p in peers)
                        {
                            json.WriteStartObject();
                            WritePeerFields(json, p);
                            json.WriteEndObject();
                        }
                        json.WriteEndArray();
                        WriteRequestId(json, command);
                    });
                    break;
                case "info":
                    output.Write("info", json =>
                    {
                        WriteInfo(json, node);
                        WriteRequestId(json, command);
                    });
                    break;
                case "wait":
                    // In the background, so that the node keeps taking commands (and "stop") while it waits.
                    _ = WaitAsync(node, output, command);
                    break;
                default:
                    output.Error($"unknown command '{command.Name}'", "BadCommand", requestId: command.RequestId);
                    break;
            }
        }
        catch (MessengerException e)
        {
            output.Error(e.Message, e.ErrorId, requestId: command.RequestId);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            output.Error(e.Message, e.GetType().Name, requestId: command.RequestId);
        }
    }

    private static async Task WaitAsync(MessengerNode node, EventWriter output, Command command)
    {
        try
        {
            await node.WaitForPeersAsync(command.Peers, TimeSpan.FromMilliseconds(command.TimeoutMs));
            output.Write("waited", json =>
            {
                json.WriteStartArray("peers");
                foreach (var p in command.Peers) json.WriteStringValue(p);
                json.WriteEndArray();
                WriteRequestId(json, command);
            });
        }
        catch (Exception e)
        {
            output.Error(e.Message, (e as MessengerException)?.ErrorId ?? e.GetType().Name, requestId: command.RequestId);
        }
    }

    private static async Task ReceiveAsync(MessengerNode node, EventWriter output, CancellationToken cancellationToken)
    {
        await foreach (var m in node.ReadAllAsync(cancellationToken))
        {
            output.Write("message", json =>
            {
                json.WriteString("from", m.From);
                json.WriteString("fromId", m.FromId);
                json.WriteString("kind", m.Kind == MessageKind.Unicast ? "unicast" : "broadcast");
                if (m.Topic is not null) json.WriteString("topic", m.Topic);
                json.WriteString("contentType", m.ContentType.ToString().ToLowerInvariant());
                if (m.ContentType == MessageContentType.Binary) json.WriteBase64String("body", m.Body.Span);
                else json.WriteString("text", m.GetText());
                json.WriteNumber("sequence", m.Sequence);
                json.WriteNumber("sentAtUnixMs", m.SentAt.ToUnixTimeMilliseconds());
            });
        }
    }

    /// <summary>Reads stdin on a thread of its own (a console read cannot be cancelled); completes at its end.</summary>
    private static void ReadStdin(ChannelWriter<string> lines, EventWriter output)
    {
        try
        {
            string? line;
            while ((line = Console.In.ReadLine()) is not null) lines.TryWrite(line);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            output.Error($"stdin: {e.Message}", "Input");
        }
        lines.TryComplete();
    }

    private static void WritePeer(EventWriter output, string kind, PeerEventArgs e) => output.Write(kind, json =>
    {
        json.WriteString("peer", e.Peer.Name);
        WritePeerFields(json, e.Peer);
        json.WriteString("previous", e.PreviousState.ToString().ToLowerInvariant());
        json.WriteString("reason", e.Reason);
    });

    private static void WritePeerFields(Utf8JsonWriter json, PeerInfo p)
    {
        json.WriteString("name", p.Name);
        json.WriteString("id", p.Id);
        json.WriteString("state", p.State.ToString().ToLowerInvariant());
        json.WriteString("address", p.Address);
        json.WriteString("endpoint", p.Endpoint);
        json.WriteString("publishEndpoint", p.PublishEndpoint);
        json.WriteString("discoveredBy", p.DiscoveredBy);
        if (p.RoundTrip is { } rtt) json.WriteNumber("roundTripMs", Math.Round(rtt.TotalMilliseconds, 3));
    }

    private static void WriteInfo(Utf8JsonWriter json, MessengerNode node)
    {
        json.WriteString("name", node.Name);
        json.WriteString("id", node.Id);
        json.WriteString("cluster", node.Cluster);
        json.WriteString("endpoint", node.Endpoint);
        json.WriteString("publishEndpoint", node.PublishEndpoint);
        json.WriteString("publicKey", node.PublicKey);
        json.WriteString("membership", node.Membership);
        json.WriteNumber("pid", Environment.ProcessId);
        var s = node.Statistics;
        json.WriteStartObject("statistics");
        json.WriteNumber("messagesSent", s.MessagesSent);
        json.WriteNumber("messagesReceived", s.MessagesReceived);
        json.WriteNumber("messagesDropped", s.MessagesDropped);
        json.WriteNumber("framesSent", s.FramesSent);
        json.WriteNumber("framesReceived", s.FramesReceived);
        json.WriteNumber("framesRejected", s.FramesRejected);
        json.WriteNumber("handshakesRefused", s.HandshakesRefused);
        json.WriteEndObject();
    }

    private static void WriteRequestId(Utf8JsonWriter json, Command command)
    {
        if (command.RequestId is not null) json.WriteString("requestId", command.RequestId);
    }
}
