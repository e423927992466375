using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Messenger.Tests.Support;

/// <summary>Keeps every log line a node writes, so tests can assert what was logged (and what never was).</summary>
public sealed class CapturingLoggerFactory : ILoggerFactory
{
    public ConcurrentQueue<(int EventId, LogLevel Level, string Message)> Lines { get; } = new();

    /// <summary>Pulsed after every line, for tests that wait for one.</summary>
    public ChangeSignal Written { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    public bool Contains(int eventId, string text) => Lines.Any(l => l.EventId == eventId && l.Message.Contains(text, StringComparison.Ordinal));

    public string All => string.Join("\n", Lines.Select(l => l.Message));

    private sealed class Logger(CapturingLoggerFactory owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            owner.Lines.Enqueue((eventId.Id, logLevel, formatter(state, exception) + (exception is null ? "" : " " + exception)));
            owner.Written.Pulse();
        }
    }
}
