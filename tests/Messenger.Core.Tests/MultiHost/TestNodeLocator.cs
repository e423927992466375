namespace Messenger.Tests.MultiHost;

/// <summary>
/// Finds the built Messenger.TestNode.dll, which the test project does not reference: the solution builds it
/// (build.ps1 builds Messenger.sln first). Looks under $MESSENGER_ARTIFACTS, then beside this test assembly's own
/// output tree (artifacts/bin/&lt;project&gt;/&lt;config&gt;), then under &lt;repo&gt;/artifacts, in the folder of this
/// assembly's configuration first.
/// </summary>
internal static class TestNodeLocator
{
    public const string FileName = "Messenger.TestNode.dll";

    private static readonly Lazy<string> Found = new(Locate);

    public static string DllPath => Found.Value;

    private static string Locate()
    {
        var candidates = Candidates().Distinct(StringComparer.Ordinal).ToList();
        var hit = candidates.FirstOrDefault(File.Exists);
        return hit ?? throw new FileNotFoundException(
            $"{FileName} was not found; build the solution first (dotnet build Messenger.sln, or build.ps1). Looked in: {string.Join(", ", candidates)}");
    }

    private static IEnumerable<string> Candidates()
    {
        var baseDir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        // <artifacts>/bin/Messenger.Core.Tests/<config>: the configuration folder ("release", "debug").
        var config = Path.GetFileName(baseDir);
        var configs = new[] { config, "release", "debug" }.Distinct(StringComparer.OrdinalIgnoreCase).ToArray();

        var roots = new List<string>();
        var env = Environment.GetEnvironmentVariable("MESSENGER_ARTIFACTS");
        if (!string.IsNullOrWhiteSpace(env)) roots.Add(Path.GetFullPath(env));
        var ownBin = Directory.GetParent(baseDir)?.Parent; // <artifacts>/bin
        if (ownBin is { Name: "bin" } && ownBin.Parent is not null) roots.Add(ownBin.Parent.FullName);
        if (FindRepoRoot(baseDir) is { } repo) roots.Add(Path.Combine(repo, "artifacts"));

        foreach (var root in roots)
        {
            foreach (var c in configs) yield return Path.Combine(root, "bin", "Messenger.TestNode", c, FileName);
        }
    }

    private static string? FindRepoRoot(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Messenger.sln"))) return dir.FullName;
        }
        // The test assembly may live outside the repository (MESSENGER_ARTIFACTS=/tmp/...): try the working directory.
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Messenger.sln"))) return dir.FullName;
        }
        return null;
    }

    /// <summary>The dotnet host to run the dll with: the one running these tests when it can be told.</summary>
    public static string DotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk)) return fromSdk;
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        return "dotnet";
    }
}
