using System.Runtime.CompilerServices;

namespace Edge.Devices.Generation;

/// <summary>
/// Used only by <c>--simulate</c> when no model is configured: answers with a fixed sentence that quotes the start of
/// the prompt, word by word, so the triggers, queue and sinks can be tried on a PC before a model is packed.
/// It says what it is in every reply; it never stands in for a model on a device.
/// </summary>
public sealed class PromptEchoGenerator : ITextGenerator
{
    public string Description => "no model (simulation echo: set Model:Path to run a real model)";

    public async IAsyncEnumerable<string> GenerateAsync(TextRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string quoted = request.Prompt.Length <= 60 ? request.Prompt : request.Prompt[..60] + "…";
        foreach (var word in $"[echo, no model] {quoted}".Split(' ').Take(request.MaxTokens))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return word + " ";
        }
    }
}
