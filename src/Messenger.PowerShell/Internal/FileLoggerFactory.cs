using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Messenger.PowerShell.Internal;

/// <summary>
/// The engine's log as lines of text appended to one file (Start-MessengerNode -LogPath): time, level, category,
/// message and exception. Thread-safe; each line is flushed so that a killed process leaves its log behind.
/// </summary>
internal sealed class FileLoggerFactory : ILoggerFactory
{
    private readonly StreamWriter _writer;
    private readonly LogLevel _minimum;
    private readonly object _gate = new();
    private bool _disposed;

    public FileLoggerFactory(string path, LogLevel minimum)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        _minimum = minimum;
    }

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _writer.Dispose();
        }
    }

    private void Write(LogLevel level, string category, string message, Exception? exception)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {level,-11} {category}: {message}{(exception is null ? "" : " | " + exception)}");
        lock (_gate)
        {
            if (!_disposed) _writer.WriteLine(line);
        }
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
