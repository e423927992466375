using System.Diagnostics;
using NetMQ;
using NetMQ.Sockets;

namespace Messenger.Bench;

/// <summary>
/// The yardsticks: raw NetMQ, one message per frame, in the most direct form (a reused send buffer, receive
/// into one <see cref="Msg"/> without allocating). Each method is the whole life of one child process.
/// </summary>
internal static class NetMqRoles
{
    private const string Bind = "tcp://127.0.0.1";

    /// <summary>ROUTER bound on loopback: counts warm-up then measured messages and reports the measured window.</summary>
    public static async Task<int> ReceiveAsync(Args a)
    {
        var size = a.Int("size", 64);
        var warmup = a.Long("warmup", 1);
        // After the warm-up and the settling, the window runs from the first measured message to the last: count more.
        var total = warmup + 1 + a.Long("count", 1);
        var deadline = Deadline(a);
        using var router = new RouterSocket();
        var secret = a.Get("curve-secret");
        if (secret is not null)
        {
            router.Options.CurveServer = true;
            router.Options.CurveCertificate = NetMQCertificate.CreateFromSecretKey(Convert.FromHexString(secret));
        }
        var port = router.BindRandomPort(Bind);
        ParentLink.Say("ready", ("endpoint", $"{Bind}:{port}"));

        var msg = new Msg();
        msg.InitEmpty();
        long n = 0;
        var start = default(Probe);
        while (n < total)
        {
            if (!router.TryReceive(ref msg, Remaining(deadline)))
            {
                ParentLink.Fail($"timed out with {n} of {total} messages (warm-up included) received");
                return 1;
            }
            if (!msg.HasMore)
            {
                ParentLink.Fail("a ROUTER message without a routing id");
                return 1;
            }
            router.Receive(ref msg);
            if (msg.Size != size)
            {
                ParentLink.Fail($"a body of {msg.Size} bytes, expected {size}");
                return 1;
            }
            if (JitSettle.IsRoundEnd(++n, warmup)) ParentLink.Say("warmed", JitSettle.Wait());
            else if (n == warmup + 1) start = Probe.Take();
        }
        var end = Probe.Take();
        msg.Close();
        ParentLink.Say("done", end.Since(start), ("received", total - warmup - 1));
        await ParentLink.WaitForStopAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>DEALER: on each "send N", sends N frames as fast as the socket takes them (blocking at the high-water mark).</summary>
    public static async Task<int> SendAsync(Args a)
    {
        var body = new byte[a.Int("size", 64)];
        using var dealer = CurveClient(a.Get("curve-server"));
        dealer.Connect(a.Require("endpoint"));
        ParentLink.Say("ready");
        while (await ParentLink.NextCommandAsync().ConfigureAwait(false) is var command && command != "stop")
        {
            if (Settled(command)) continue;
            var count = ParseSend(command);
            var start = Probe.Take();
            for (long i = 0; i < count; i++) dealer.SendFrame(body);
            ParentLink.Say("sent", Probe.Take().Since(start), ("count", count));
        }
        return 0;
    }

    /// <summary>ROUTER that sends every message straight back to its sender, until stop.</summary>
    public static Task<int> EchoAsync(Args a)
    {
        using var router = new RouterSocket();
        var secret = a.Get("curve-secret");
        if (secret is not null)
        {
            router.Options.CurveServer = true;
            router.Options.CurveCertificate = NetMQCertificate.CreateFromSecretKey(Convert.FromHexString(secret));
        }
        var port = router.BindRandomPort(Bind);
        ParentLink.Say("ready", ("endpoint", $"{Bind}:{port}"));
        var identity = new Msg();
        var body = new Msg();
        identity.InitEmpty();
        body.InitEmpty();
        var stopping = ParentLink.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            // The timeout only lets the loop notice a stop; a waiting echo costs nothing.
            if (!router.TryReceive(ref identity, TimeSpan.FromMilliseconds(200))) continue;
            router.Receive(ref body);
            router.Send(ref identity, more: true);
            router.Send(ref body, more: false);
        }
        identity.Close();
        body.Close();
        return Task.FromResult(0);
    }

    /// <summary>A DEALER, a CURVE client of the server whose public key (hex) is given, else plaintext.</summary>
    private static DealerSocket CurveClient(string? serverKey)
    {
        var dealer = new DealerSocket();
        if (serverKey is not null)
        {
            dealer.Options.CurveServerKey = Convert.FromHexString(serverKey);
            dealer.Options.CurveCertificate = new NetMQCertificate();
        }
        return dealer;
    }

    /// <summary>The handshake yardstick, against <see cref="EchoAsync"/>: on "run", again and again a new DEALER
    /// connects (with CURVE when given the server key) and sends one message; the clock runs from Connect to the echo
    /// coming back, which covers the TCP connection, the ZMTP (and CURVE) handshake and one round trip.</summary>
    public static async Task<int> HandshakeAsync(Args a)
    {
        var payload = new byte[64];
        var warmup = a.Int("warmup", 10);
        var count = a.Int("count", 100);
        var deadline = Deadline(a);
        var serverKey = a.Get("curve-server");
        var endpoint = a.Require("endpoint");
        ParentLink.Say("ready");
        if (await ParentLink.NextCommandAsync().ConfigureAwait(false) != "run") return 0;
        var samples = new long[count];
        var reply = new Msg();
        reply.InitEmpty();
        var start = default(Probe);
        for (var i = 0; i < warmup + count; i++)
        {
            if (i == warmup) start = Probe.Take();
            using var dealer = CurveClient(serverKey);
            dealer.Options.Linger = TimeSpan.Zero;
            var t0 = Stopwatch.GetTimestamp();
            dealer.Connect(endpoint);
            dealer.SendFrame(payload);
            if (!dealer.TryReceive(ref reply, Remaining(deadline)))
            {
                ParentLink.Fail($"timed out waiting for the echo of connection {i}");
                return 1;
            }
            var t1 = Stopwatch.GetTimestamp();
            if (i >= warmup) samples[i - warmup] = t1 - t0;
        }
        var end = Probe.Take();
        reply.Close();
        ParentLink.Say("done", [.. end.Since(start), .. Latency.Summarize(samples)]);
        await ParentLink.WaitForStopAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>DEALER client of <see cref="EchoAsync"/>: on "run", one message in flight at a time; reports p50 and p99.</summary>
    public static async Task<int> RoundTripAsync(Args a)
    {
        var payload = new byte[a.Int("size", 64)];
        var warmup = a.Int("warmup", 1000);
        var count = a.Int("count", 10000);
        var deadline = Deadline(a);
        using var dealer = CurveClient(a.Get("curve-server"));
        dealer.Connect(a.Require("endpoint"));
        ParentLink.Say("ready");
        if (await ParentLink.NextCommandAsync().ConfigureAwait(false) != "run") return 0;

        var reply = new Msg();
        reply.InitEmpty();
        try
        {
            return await RoundTripLoop.RunAsync(payload.Length, warmup, count, _ =>
            {
                dealer.SendFrame(payload);
                return new ValueTask<int>(dealer.TryReceive(ref reply, Remaining(deadline)) ? reply.Size : -1);
            }).ConfigureAwait(false);
        }
        finally
        {
            reply.Close();
        }
    }

    /// <summary>
    /// The publisher: an XPUB, which is the PUB socket with one addition used here, it hears each subscription.
    /// It waits for all subscribers to subscribe (so none loses the start: no slow joiner, no sleep), then on each
    /// "send N" publishes N frames. High-water marks are off on both ends so the yardstick loses nothing.
    /// </summary>
    public static async Task<int> PublishAsync(Args a)
    {
        var body = new byte[a.Int("size", 64)];
        var subscribers = a.Int("subscribers", 4);
        var deadline = Deadline(a);
        using var pub = new XPublisherSocket();
        pub.Options.XPubVerbose = true;
        pub.Options.SendHighWatermark = 0;
        var port = pub.BindRandomPort(Bind);
        ParentLink.Say("ready", ("endpoint", $"{Bind}:{port}"));
        for (var joined = 0; joined < subscribers;)
        {
            if (!pub.TryReceiveFrameBytes(Remaining(deadline), out var subscription))
            {
                ParentLink.Fail($"only {joined} of {subscribers} subscribers subscribed in time");
                return 1;
            }
            if (subscription.Length > 0 && subscription[0] == 1) joined++;
        }
        ParentLink.Say("subscribed");
        while (await ParentLink.NextCommandAsync().ConfigureAwait(false) is var command && command != "stop")
        {
            if (Settled(command)) continue;
            var count = ParseSend(command);
            var start = Probe.Take();
            for (long i = 0; i < count; i++) pub.SendFrame(body);
            ParentLink.Say("sent", Probe.Take().Since(start), ("count", count));
        }
        return 0;
    }

    /// <summary>One subscriber of <see cref="PublishAsync"/>, in its own process.</summary>
    public static async Task<int> SubscribeAsync(Args a)
    {
        var size = a.Int("size", 64);
        var warmup = a.Long("warmup", 1);
        // After the warm-up and the settling, the window runs from the first measured message to the last: count more.
        var total = warmup + 1 + a.Long("count", 1);
        var deadline = Deadline(a);
        using var sub = new SubscriberSocket();
        sub.Options.ReceiveHighWatermark = 0;
        sub.Connect(a.Require("endpoint"));
        sub.SubscribeToAnyTopic();
        ParentLink.Say("ready");
        var msg = new Msg();
        msg.InitEmpty();
        long n = 0;
        var start = default(Probe);
        while (n < total)
        {
            if (!sub.TryReceive(ref msg, Remaining(deadline)))
            {
                ParentLink.Fail($"timed out with {n} of {total} messages (warm-up included) received");
                return 1;
            }
            if (msg.Size != size)
            {
                ParentLink.Fail($"a body of {msg.Size} bytes, expected {size}");
                return 1;
            }
            if (JitSettle.IsRoundEnd(++n, warmup)) ParentLink.Say("warmed", JitSettle.Wait());
            else if (n == warmup + 1) start = Probe.Take();
        }
        var end = Probe.Take();
        msg.Close();
        ParentLink.Say("done", end.Since(start), ("received", total - warmup - 1));
        await ParentLink.WaitForStopAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>A sender's "settle": waits for its JIT to go quiet (see <see cref="JitSettle"/>), then answers.</summary>
    public static bool Settled(string command)
    {
        if (command != "settle") return false;
        ParentLink.Say("settled", JitSettle.Wait());
        return true;
    }

    public static long ParseSend(string command) =>
        command.StartsWith("send ", StringComparison.Ordinal) && long.TryParse(command.AsSpan(5), out var n) && n > 0
            ? n
            : throw new BenchException($"unknown command '{command}'");

    public static long Deadline(Args a) => Stopwatch.GetTimestamp() + (long)(a.Long("timeout", 60) * Stopwatch.Frequency);

    public static TimeSpan Remaining(long deadline)
    {
        var left = deadline - Stopwatch.GetTimestamp();
        return left <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(left / (double)Stopwatch.Frequency);
    }
}

/// <summary>Percentiles of round-trip samples (in Stopwatch ticks), reported in microseconds.</summary>
internal static class Latency
{
    public static (string Key, object Value)[] Summarize(long[] samples)
    {
        Array.Sort(samples);
        return
        [
            ("samples", samples.Length),
            ("p50_us", Micros(Percentile(samples, 0.50))),
            ("p90_us", Micros(Percentile(samples, 0.90))),
            ("p99_us", Micros(Percentile(samples, 0.99))),
            ("max_us", Micros(samples[^1])),
        ];
    }

    /// <summary>Nearest rank: the smallest sample with at least that fraction of samples at or below it.</summary>
    private static long Percentile(long[] sorted, double fraction)
    {
        var rank = (int)Math.Ceiling(fraction * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    private static double Micros(long ticks) => Math.Round(ticks * 1_000_000.0 / Stopwatch.Frequency, 1);
}
