using Edge.Runtime.Sampling;

namespace Edge.Devices.Generation;

/// <summary>A prompt and the limits to generate it with; end-of-text is not sampled before <paramref name="MinTokens"/> tokens.</summary>
public sealed record TextRequest(string Prompt, int MaxTokens, SamplingOptions Sampling, int MinTokens = 0);

/// <summary>
/// What the daemon needs from a language model: stream text for a prompt. The production implementation is
/// <see cref="EdgeTextGenerator"/>; tests substitute a fake.
/// </summary>
public interface ITextGenerator
{
    /// <summary>A short description for logs (model file, parameter count).</summary>
    string Description { get; }

    /// <summary>Streams the text for one request. Callers run one request at a time.</summary>
    IAsyncEnumerable<string> GenerateAsync(TextRequest request, CancellationToken cancellationToken);
}
