using Microsoft.Extensions.Logging;

namespace Edge.Devices.Sinks;

/// <summary>Writes every generation to the log (the console, or the journal under systemd).</summary>
public sealed partial class LogSink(ILogger<LogSink> logger) : IGenerationSink
{
    public string Name => "log";

    public Task WriteAsync(GenerationOutcome outcome, CancellationToken cancellationToken)
    {
        LogGeneration(outcome.Trigger.Source.ToString(), outcome.Elapsed.TotalSeconds, outcome.Text.Trim());
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Source} → ({Seconds:0.0} s) {Text}")]
    partial void LogGeneration(string source, double seconds, string text);
}
