using Microsoft.Extensions.Logging;

namespace Messenger.Bench;

/// <summary>The nodes' warnings and errors on stderr: the orchestrator keeps a child's last lines and shows them
/// when a run fails (and all of them with --verbose).</summary>
internal sealed class StderrLoggerFactory(LogLevel minimum) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, minimum);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(string category, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var line = $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}[{eventId.Name ?? eventId.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)}] {formatter(state, exception)}";
            if (exception is not null) line += " | " + exception.GetType().Name + ": " + exception.Message;
            Console.Error.WriteLine(line);
        }
    }
}
