using Messenger.Tests.Support;

namespace Messenger.Tests.Security;

public sealed class MembershipSecurityTests
{
    [Fact]
    public async Task A_member_with_a_wrong_cluster_key_is_refused_with_a_clear_reason_on_both_sides()
    {
        await using var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false, LoggerFactory = log });
        var stranger = await cluster.StartAsync("z", o => o with { BeaconEnabled = false, ClusterKey = ClusterKey.Generate() });
        var error = await Assert.ThrowsAsync<MessengerException>(() => stranger.ConnectAsync(a.Endpoint, TestCluster.Timeout));
        Assert.Equal("HandshakeRefused", error.ErrorId);
        Assert.Contains("cluster key does not match", error.Message);
        Assert.True(log.Contains(1200, "cluster key does not match"), log.All);
        Assert.Empty(a.GetPeers());
        Assert.True(a.Statistics.HandshakesRefused >= 1);
    }

    [Fact]
    public async Task A_node_refused_again_and_again_for_one_reason_is_warned_of_once_a_minute()
    {
        // A node with another cluster key greets its seed every 2 s for as long as it runs: one warning, then debug.
        await using var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        var a = await cluster.StartAsync("a", o => o with { BeaconEnabled = false, LoggerFactory = log });
        await cluster.StartAsync("z", o => o with { BeaconEnabled = false, ClusterKey = ClusterKey.Generate(), Seeds = [a.Endpoint] });
        await log.Written.UntilAsync(() => log.Lines.Count(l => l.EventId == 1200) >= 3, () => log.All, TestCluster.Timeout);
        var refusals = log.Lines.Where(l => l.EventId == 1200).Select(l => l.Level).ToList();
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, refusals[0]);
        Assert.All(refusals.Skip(1), level => Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, level));
    }

    [Fact]
    public async Task An_allowlist_admits_exactly_the_listed_keys()
    {
        await using var cluster = new TestCluster();
        var (ka, kb, kc) = (MessengerKeyPair.Generate(), MessengerKeyPair.Generate(), MessengerKeyPair.Generate());
        string[] listed = [ka.PublicKey, kb.PublicKey];
        MessengerNodeOptions Allowlist(MessengerNodeOptions o, MessengerKeyPair k, string[] allowed) =>
            o with { KeyPair = k, ClusterKey = null, AllowedKeys = allowed, BeaconEnabled = false };
        var a = await cluster.StartAsync("a", o => Allowlist(o, ka, listed));
        var b = await cluster.StartAsync("b", o => Allowlist(o, kb, listed));
        var c = await cluster.StartAsync("c", o => Allowlist(o, kc, [ka.PublicKey, kb.PublicKey, kc.PublicKey]));
        Assert.Equal("b", (await a.ConnectAsync(b.Endpoint, TestCluster.Timeout)).Name);
        var error = await Assert.ThrowsAsync<MessengerException>(() => c.ConnectAsync(a.Endpoint, TestCluster.Timeout));
        Assert.Contains("allowlist", error.Message);
        Assert.DoesNotContain(a.GetPeers(), p => p.Name == "c");
        Assert.DoesNotContain(b.GetPeers(), p => p.Name == "c");
        await a.SendAsync("b", "listed");
        Assert.Equal("listed", (await TestCluster.ReadAsync(b, 1))[0].GetText());
    }

    [Fact]
    public async Task Secure_and_insecure_nodes_refuse_each_other_with_a_reason()
    {
        await using var cluster = new TestCluster();
        var secure = await cluster.StartAsync("s", o => o with { BeaconEnabled = false });
        var plain = await cluster.StartAsync("p", o => o with { BeaconEnabled = false, Insecure = true, ClusterKey = null });
        var e1 = await Assert.ThrowsAsync<MessengerException>(() => plain.ConnectAsync(secure.Endpoint, TestCluster.Timeout));
        Assert.Contains("requires encrypted links", e1.Message);
        var e2 = await Assert.ThrowsAsync<MessengerException>(() => secure.ConnectAsync(plain.Endpoint, TestCluster.Timeout));
        Assert.Contains("INSECURE", e2.Message);
    }

    [Fact]
    public async Task The_node_id_derives_from_the_key_and_survives_a_restart()
    {
        var folder = Directory.CreateTempSubdirectory("messenger-keys");
        try
        {
            var cluster = new TestCluster();
            var path = Path.Combine(folder.FullName, "a.key");
            string id;
            await using (var first = await MessengerNode.StartAsync(cluster.Options("a") with { KeyPair = null, KeyPath = path }))
                id = first.Id;
            await using var second = await MessengerNode.StartAsync(cluster.Options("a") with { KeyPair = null, KeyPath = path });
            Assert.Equal(id, second.Id);
            Assert.Equal(MessengerKeyPair.Load(path).NodeId, id);
            Assert.Equal(MessengerKeyPair.Load(path).PublicKey, second.PublicKey);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Key_files_are_created_readable_by_their_owner_alone()
    {
        var folder = Directory.CreateTempSubdirectory("messenger-keys");
        try
        {
            var nodeKey = Path.Combine(folder.FullName, "sub", "node.key");
            var clusterKey = Path.Combine(folder.FullName, "cluster.key");
            var pair = MessengerKeyPair.LoadOrCreate(nodeKey);
            var key = ClusterKey.LoadOrCreate(clusterKey);
            Assert.Equal(pair.PublicKey, MessengerKeyPair.LoadOrCreate(nodeKey).PublicKey);
            Assert.Equal(key.Fingerprint, ClusterKey.LoadOrCreate(clusterKey).Fingerprint);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(nodeKey));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(clusterKey));
            }
            Assert.Throws<MessengerConfigurationException>(() => key.Save(clusterKey));
            File.WriteAllText(Path.Combine(folder.FullName, "bad.key"), "not base64!");
            Assert.Equal("ClusterKeyPath", Assert.Throws<MessengerConfigurationException>(() => ClusterKey.Load(Path.Combine(folder.FullName, "bad.key"))).Option);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_key_file_others_may_write_is_refused_and_one_they_may_read_is_warned_of()
    {
        if (OperatingSystem.IsWindows()) return; // Unix file modes
        var folder = Directory.CreateTempSubdirectory("messenger-keys");
        try
        {
            var cluster = new TestCluster();
            var path = Path.Combine(folder.FullName, "cluster.key");
            cluster.Key.Save(path);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead);
            var error = Assert.Throws<MessengerConfigurationException>(() => ClusterKey.Load(path));
            Assert.Equal("ClusterKeyPath", error.Option);
            Assert.Contains("chmod 600", error.Message);

            // Readable by others, as a Kubernetes Secret's files are by default: used, and warned of.
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            var log = new CapturingLoggerFactory();
            await using (var node = await MessengerNode.StartAsync(cluster.Options("a") with { ClusterKey = null, ClusterKeyPath = path, LoggerFactory = log }))
            {
                Assert.True(log.Contains(1004, path), log.All);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_key_file_that_cannot_be_written_leaves_no_secret_behind()
    {
        var folder = Directory.CreateTempSubdirectory("messenger-keys");
        try
        {
            // A folder where the file should be: the move into place fails.
            var path = Path.Combine(folder.FullName, "node.key");
            Directory.CreateDirectory(path);
            Assert.Equal("KeyPath", Assert.Throws<MessengerConfigurationException>(() => MessengerKeyPair.LoadOrCreate(path)).Option);
            Assert.Empty(Directory.GetFiles(folder.FullName));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Secrets_never_appear_in_ToString_or_logs()
    {
        var cluster = new TestCluster();
        var log = new CapturingLoggerFactory();
        var options = cluster.Options("a") with { LoggerFactory = log };
        var secret = cluster.Key.ToBase64();
        Assert.DoesNotContain(secret, options.ToString());
        Assert.DoesNotContain(secret, cluster.Key.ToString());
        Assert.Contains(cluster.Key.Fingerprint, cluster.Key.ToString());
        var privateKey = Convert.ToBase64String(options.KeyPair!.PrivateKey);
        Assert.DoesNotContain(privateKey, options.KeyPair.ToString());
        await using (var node = await MessengerNode.StartAsync(options))
        {
            Assert.DoesNotContain(secret, node.ToString());
        }
        Assert.DoesNotContain(secret, log.All);
        Assert.DoesNotContain(privateKey, log.All);
        Assert.NotEmpty(log.Lines);
    }

    [Fact]
    public async Task A_malformed_allowlist_entry_fails_clearly()
    {
        var error = await Assert.ThrowsAsync<MessengerConfigurationException>(() => MessengerNode.StartAsync(new TestCluster().Options("a") with { AllowedKeys = ["not-a-key"] }));
        Assert.Equal("AllowedKeys", error.Option);
    }
}
