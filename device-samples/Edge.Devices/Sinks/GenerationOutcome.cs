using Edge.Devices.Triggers;

namespace Edge.Devices.Sinks;

/// <summary>A finished generation and the trigger that asked for it.</summary>
public sealed record GenerationOutcome(Trigger Trigger, string Text, TimeSpan Elapsed, bool Cancelled)
{
    /// <summary>Why the generation failed (the text is then empty); null when it worked.</summary>
    public string? Error { get; init; }

    /// <summary>The model ended the text before writing anything visible (only with <c>Model:MinTokens</c> 0 or a
    /// text of spaces): the sinks say so instead of showing nothing.</summary>
    public bool NoText => !Cancelled && Error is null && string.IsNullOrWhiteSpace(Text);

    public const string NoTextNotice = "(no text: the model ended at once)";
}

/// <summary>Where generated text goes: the log, an LCD, an MQTT topic.</summary>
public interface IGenerationSink
{
    string Name { get; }

    Task WriteAsync(GenerationOutcome outcome, CancellationToken cancellationToken);
}
