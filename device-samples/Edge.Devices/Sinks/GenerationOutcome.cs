using Edge.Devices.Triggers;

namespace Edge.Devices.Sinks;

/// <summary>A finished generation and the trigger that asked for it.</summary>
public sealed record GenerationOutcome(Trigger Trigger, string Text, TimeSpan Elapsed, bool Cancelled)
{
    /// <summary>Why the generation failed (the text is then empty); null when it worked.</summary>
    public string? Error { get; init; }
}

/// <summary>Where generated text goes: the log, an LCD, an MQTT topic.</summary>
public interface IGenerationSink
{
    string Name { get; }

    Task WriteAsync(GenerationOutcome outcome, CancellationToken cancellationToken);
}
