using System.Text;
using System.Threading.Channels;

namespace Messenger.Bench;

/// <summary>
/// A child's side of the conversation with the orchestrator. Status lines go to stdout as
/// <c>@tag key=value ...</c>; commands come from stdin one per line (<c>send N</c>, <c>run</c>, <c>stop</c>).
/// End of stdin counts as <c>stop</c>, so a child never outlives an orchestrator that died.
/// </summary>
internal static class ParentLink
{
    private static readonly Channel<string> Commands = Channel.CreateUnbounded<string>();
    private static readonly CancellationTokenSource StopSource = new();
    private static readonly ManualResetEventSlim ExitedInTime = new();
    private static int _started;

    /// <summary>The role has returned: the process is on its way out.</summary>
    public static void RoleReturned() => ExitedInTime.Set();

    /// <summary>Cancelled when the orchestrator says stop or closes stdin.</summary>
    public static CancellationToken Stopping => StopSource.Token;

    public static void StartListening()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        var reader = new Thread(() =>
        {
            try
            {
                while (Console.In.ReadLine() is { } line)
                {
                    line = line.Trim();
                    if (line.Length == 0) continue;
                    if (line == "stop") break;
                    Commands.Writer.TryWrite(line);
                }
            }
            catch (IOException)
            {
                // stdin gone: same as stop
            }
            Commands.Writer.TryWrite("stop");
            Commands.Writer.TryComplete();
            StopSource.Cancel();
            // A role that was still measuring when told to stop (the orchestrator gave up on the run) may be blocked
            // in a receive: give a role that finished time to close its node politely, then leave regardless.
            if (!ExitedInTime.Wait(TimeSpan.FromSeconds(3))) Environment.Exit(3);
        })
        {
            IsBackground = true,
            Name = "bench-stdin",
        };
        reader.Start();
    }

    /// <summary>The next command; "stop" once stdin says so or closes.</summary>
    public static async Task<string> NextCommandAsync()
    {
        try
        {
            return await Commands.Reader.ReadAsync().ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            return "stop";
        }
    }

    /// <summary>Waits for "stop" (or the end of stdin), ignoring anything else.</summary>
    public static async Task WaitForStopAsync()
    {
        while (await NextCommandAsync().ConfigureAwait(false) != "stop")
        {
        }
    }

    public static void Say(string tag, params (string Key, object Value)[] fields)
    {
        var line = new StringBuilder().Append('@').Append(tag);
        foreach (var (key, value) in fields) line.Append(' ').Append(key).Append('=').Append(Probe.Format(value));
        Console.Out.WriteLine(line.ToString());
        Console.Out.Flush();
    }

    public static void Say(string tag, IEnumerable<(string Key, object Value)> a, params (string Key, object Value)[] b) =>
        Say(tag, [.. a, .. b]);

    public static void Fail(string message)
    {
        Console.Out.WriteLine("@error " + message.ReplaceLineEndings(" "));
        Console.Out.Flush();
    }
}
