using Microsoft.Extensions.Logging;

namespace Edge.Devices.Sinks;

/// <summary>Writes every generation to the log (the console, or the journal under systemd).</summary>
public sealed partial class LogSink(ILogger<LogSink> logger) : IGenerationSink
{
    public string Name => "log";

    public Task WriteAsync(GenerationOutcome outcome, CancellationToken cancellationToken)
    {
        if (outcome.NoText)
            LogNoText(outcome.Trigger.Source.ToString(), outcome.Elapsed.TotalSeconds);
        else
            LogGeneration(outcome.Trigger.Source.ToString(), outcome.Elapsed.TotalSeconds, outcome.Text.Trim());
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Source} → ({Seconds:0.0} s) {Text}")]
    partial void LogGeneration(string source, double seconds, string text);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Source} → ({Seconds:0.0} s) no text: the model ended the text at once; raise Model:MinTokens to make it write something")]
    partial void LogNoText(string source, double seconds);
}
