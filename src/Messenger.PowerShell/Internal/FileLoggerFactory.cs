using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// The engine's log as lines of text appended to one file (Start-MessengerNode -LogPath): time, level, category,
/// message and exception. Thread-safe; each line is flushed so that a killed process leaves its log behind. Nodes of
/// this process that name the same file share one writer (two writers on one file would write over each other's
/// lines); a line goes at the file's end as it is then, so that another process appending to it loses less.
/// </summary>
internal sealed class FileLoggerFactory : ILoggerFactory
{
    private static readonly Dictionary<string, SharedFile> Open = new(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);

    private readonly SharedFile _file;
    private readonly LogLevel _minimum;
    private bool _disposed;

    public FileLoggerFactory(string path, LogLevel minimum)
    {
        var fullPath = Path.GetFullPath(path);
        lock (Open)
        {
            if (!Open.TryGetValue(fullPath, out var file))
            {
                var folder = Path.GetDirectoryName(fullPath);
                if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
                file = new SharedFile(fullPath, new StreamWriter(new FileStream(fullPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true });
                Open[fullPath] = file;
            }
            file.Users++;
            _file = file;
        }
        _minimum = minimum;
    }

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
        lock (Open)
        {
            if (_disposed) return;
            _disposed = true;
            if (--_file.Users > 0) return;
            Open.Remove(_file.Path);
            lock (_file) _file.Writer.Dispose();
        }
    }

    private void Write(LogLevel level, string category, string message, Exception? exception)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {level,-11} {category}: {message}{(exception is null ? "" : " | " + exception)}");
        lock (_file)
        {
            if (_disposed || _file.Writer.BaseStream is not { CanWrite: true } stream) return;
            stream.Seek(0, SeekOrigin.End);
            _file.Writer.WriteLine(line);
        }
    }

    private sealed class SharedFile(string path, StreamWriter writer)
    {
        public string Path { get; } = path;
        public StreamWriter Writer { get; } = writer;
        public int Users { get; set; }
    }

    private sealed class FileLogger(FileLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= owner._minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) owner.Write(logLevel, category, formatter(state, exception), exception);
        }
    }
}
