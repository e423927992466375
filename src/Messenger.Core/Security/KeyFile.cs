using System.Text;

namespace Messenger.Security;

/// <summary>Secrets on disk: one base64 line, in a file only its owner may read (mode 0600 on Unix, in a
/// folder of mode 0700 when this creates it).</summary>
internal static class KeyFile
{
    /// <summary>The folder of Messenger's default key files: $MESSENGER_HOME, else ~/.messenger.</summary>
    public static string Home =>
        Environment.GetEnvironmentVariable("MESSENGER_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".messenger");

    private const UnixFileMode WritableByOthers = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
    private const UnixFileMode ReadableByOthersMode = UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Reads a key. On Unix a file that others may write is refused: whoever can could put a key of theirs
    /// in it (see <see cref="ReadableByOthers"/> for one that others may read).</summary>
    public static byte[] Read(string path, int length, string option)
    {
        string text;
        try
        {
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & WritableByOthers) != 0)
                throw new MessengerConfigurationException(option, $"the key file '{path}' may be written by others than its owner: make it readable by its owner alone (chmod 600).");
            text = File.ReadAllText(path, Encoding.ASCII).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new MessengerConfigurationException(option, $"cannot read the key file '{path}': {e.Message}", e);
        }
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(text);
        }
        catch (FormatException e)
        {
            throw new MessengerConfigurationException(option, $"the key file '{path}' does not hold a base64 key.", e);
        }
        if (bytes.Length != length) throw new MessengerConfigurationException(option, $"the key file '{path}' holds {bytes.Length} bytes, not {length}.");
        return bytes;
    }

    /// <summary>Unix: whether others than the file's owner may read it (a Kubernetes Secret's files are, unless its
    /// defaultMode says otherwise): the node warns of it at start, as the secret is then theirs too.</summary>
    public static bool ReadableByOthers(string path) =>
        !OperatingSystem.IsWindows() && File.Exists(path) && (File.GetUnixFileMode(path) & ReadableByOthersMode) != 0;

    /// <summary>Writes a new key file; fails if the file exists (returns false) so that two processes creating
    /// the same default file at once end up with one key. The key is written to a private temporary file first and
    /// moved into place whole, so a reader never sees a half-written file.</summary>
    public static bool TryCreate(string path, ReadOnlySpan<byte> secret, string option)
    {
        try
        {
            var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
            if (!Directory.Exists(folder))
            {
                if (OperatingSystem.IsWindows()) Directory.CreateDirectory(folder);
                else Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            try
            {
                using (var stream = new FileStream(temporary, options))
                {
                    stream.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(secret) + "\n"));
                }
                File.Move(temporary, path, overwrite: false);
                return true;
            }
            catch (IOException) when (File.Exists(path))
            {
                return false;
            }
            finally
            {
                // The secret is not left behind in the temporary file, whatever failed (a move leaves nothing there).
                File.Delete(temporary);
            }
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new MessengerConfigurationException(option, $"cannot write the key file '{path}': {e.Message}", e);
        }
    }
}
