using Microsoft.Extensions.Logging;

namespace Messenger.TestNode;

/// <summary>The engine's log on stderr, one line per entry, at or above a level: stdout stays pure JSON lines.</summary>
internal sealed class StderrLoggerFactory : ILoggerFactory
{
    private readonly LogLevel _minimum;
    private readonly string _node;
    private readonly Lock _gate = new();

    public StderrLoggerFactory(LogLevel minimum, string node)
    {
        _minimum = minimum;
        _node = node;
    }

    public static LogLevel ParseLevel(string text) => text switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "information" or "info" => LogLevel.Information,
        "warning" or "warn" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "none" or "off" => LogLevel.None,
        _ => throw new ArgumentException($"--log: unknown level '{text}' (trace, debug, information, warning, error, none)."),
    };

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    private sealed class Logger(StderrLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= owner._minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var line = $"{EventWriter.MonotonicMilliseconds():0.000} {owner._node} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}";
            lock (owner._gate) Console.Error.WriteLine(line);
        }
    }
}
