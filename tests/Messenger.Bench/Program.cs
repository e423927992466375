namespace Messenger.Bench;

/// <summary>
/// Entry point. Without --role it is the orchestrator: it starts itself again as child processes with a role
/// (sender, receiver, echo, publisher, subscriber; raw NetMQ or Messenger), talks to them through their stdin and
/// stdout, and prints and writes the results. With --role it is one of those children.
/// </summary>
internal static class Program
{
    public const string Usage = """
        Messenger.Bench: raw NetMQ yardsticks and Messenger side by side on loopback, each sender and receiver in its own process.

          --output <file>     the JSON rows (default artifacts/bench/latest.json); machine.json is written beside it
          --module <dir>      the PowerShell module folder (with Messenger.psd1) for the pwsh rows; skipped when absent
          --pwsh <path>       pwsh to run the module in (a pwsh executable, pwsh.dll, or dotnet, meaning the local tool `dotnet pwsh`)
          --repeat <n>        runs per measurement; the median is reported (default 3, and 5 for the round trips)
          --quick             one run of each with smaller counts (about a minute)
          --scale <x>         multiply every message count by x (e.g. 0.5)
          --pwsh-count <n>    messages for the pwsh rows (default 1000000; --quick 200000)
          --timeout <s>       limit for one run of one measurement (default 90)
          --only <a,b>        run only measurements whose label contains one of these (e.g. netmq,unicast or "unicast 64 B,rtt")
          --skip-pwsh         leave the pwsh rows out
          --no-beacon         Messenger nodes meet through seeds only
          --receive-capacity <n>  ReceiveQueueCapacity of the Messenger nodes (diagnosis: shows that drops fail the run)
          --log-level <level> least level of the nodes' log lines kept on the children's stderr (default Warning)
          --child-env <K=V,..>  environment of the benchmark's own children (diagnosis, e.g. DOTNET_TieredCompilation=0)
          --verbose           echo every child's output on stderr
        Exit code: 0 when every measurement ran and no Messenger run dropped or lost a message, else 1.
        """;

    public static async Task<int> Main(string[] argv)
    {
        Args args;
        try
        {
            args = Args.Parse(argv);
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }

        var role = args.Get("role");
        if (role is null)
        {
            if (args.Has("help") || args.Has("h"))
            {
                Console.WriteLine(Usage);
                return 0;
            }
            return await Orchestrator.RunAsync(args).ConfigureAwait(false);
        }

        ParentLink.StartListening();
        try
        {
            return role switch
            {
                "netmq-recv" => await NetMqRoles.ReceiveAsync(args).ConfigureAwait(false),
                "netmq-send" => await NetMqRoles.SendAsync(args).ConfigureAwait(false),
                "netmq-echo" => await NetMqRoles.EchoAsync(args).ConfigureAwait(false),
                "netmq-rtt" => await NetMqRoles.RoundTripAsync(args).ConfigureAwait(false),
                "netmq-poller-echo" => await PollerPoolRoles.EchoAsync(args).ConfigureAwait(false),
                "netmq-poller-rtt" => await PollerPoolRoles.RoundTripAsync(args).ConfigureAwait(false),
                "netmq-handshake" => await NetMqRoles.HandshakeAsync(args).ConfigureAwait(false),
                "messenger-handshake" => await MessengerRoles.HandshakeAsync(args).ConfigureAwait(false),
                "netmq-pub" => await NetMqRoles.PublishAsync(args).ConfigureAwait(false),
                "netmq-sub" => await NetMqRoles.SubscribeAsync(args).ConfigureAwait(false),
                "messenger-recv" => await MessengerRoles.ReceiveAsync(args).ConfigureAwait(false),
                "messenger-send" => await MessengerRoles.SendAsync(args).ConfigureAwait(false),
                "messenger-echo" => await MessengerRoles.EchoAsync(args).ConfigureAwait(false),
                "messenger-rtt" => await MessengerRoles.RoundTripAsync(args).ConfigureAwait(false),
                _ => throw new BenchException($"unknown role '{role}'"),
            };
        }
        catch (Exception e)
        {
            ParentLink.Fail($"{e.GetType().Name}: {e.Message}");
            Console.Error.WriteLine(e);
            return 1;
        }
        finally
        {
            ParentLink.RoleReturned();
        }
    }
}
