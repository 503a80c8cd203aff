using System.Text.Json;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Server.Scheduling;

namespace Edge.Server.Protocol;

/// <summary>A request that passed every check: what it asked for and what the scheduler is to run.</summary>
internal sealed record AdmittedRequest(CompletionRequest Request, SequenceRequest Sequence);

/// <summary>
/// Everything between a /v1/completions or /v1/chat/completions body and the scheduler: the JSON parse, the
/// field checks (<see cref="CompletionRequest.Parse"/>), the model name, the prompt's tokens against the context
/// size, and the sampling options. Every refusal is an <see cref="ApiError"/> (400, 404, 413), which the server
/// answers in the OpenAI error shape; anything else escaping would be a 500. The fuzz target <c>serve-request</c>
/// (tests/Edge.Fuzz) runs this same code on mutated bodies.
/// </summary>
internal sealed class RequestAdmission(EdgeModel model, ServeOptions options)
{
    public ChatTemplate Template { get; } = ChatTemplate.For(model);

    /// <summary>Reads a body from the request stream (Kestrel bounds its size) and admits it.</summary>
    public async ValueTask<AdmittedRequest> ReadAsync(Stream body, bool chat, CancellationToken cancellationToken)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(body, default, cancellationToken);
        }
        catch (JsonException e)
        {
            // Only the position: the exception's own message can quote a long stretch of the body.
            string at = Edge.Format.Container.JsonErrorText.Position(e);
            throw ApiError.BadRequest(null, $"The body is not valid JSON{(at.Length > 0 ? $" ({at})" : "")}.");
        }
        using (document)
            return Admit(document.RootElement, chat);
    }

    /// <summary>Checks a parsed body and turns it into the scheduler's request.</summary>
    public AdmittedRequest Admit(JsonElement body, bool chat)
    {
        var request = CompletionRequest.Parse(body, chat);
        if (request.Model is { Length: > 0 } requested && requested != options.ModelId)
            throw ApiError.ModelNotFound(requested, options.ModelId);
        var (prompt, checkpoint) = chat ? ChatPrompt(request.Messages!) : (model.Tokenizer.Encode(request.Prompt!), 0);
        if (prompt.Length == 0)
            throw ApiError.BadRequest("prompt", "The prompt is empty and the model adds no BOS token; give a prompt.");
        if (prompt.Length > options.ContextSize)
            throw ApiError.PromptTooLong(prompt.Length, options.ContextSize);
        if (request.MaxTokens > options.ContextSize)
            throw ApiError.BadRequest("max_tokens", $"max_tokens must be ≤ {options.ContextSize}, the context size (got {request.MaxTokens}).");
        // What the scheduler checks again at submission (CompletionRequest.Parse checks the same bounds).
        request.Sampling.Validate();
        int maxTokens = Math.Min(request.MaxTokens ?? options.DefaultMaxTokens, options.ContextSize - prompt.Length);
        return new AdmittedRequest(request, new SequenceRequest
        {
            PromptTokens = prompt,
            MaxTokens = maxTokens,
            Sampling = request.Sampling,
            // A chat reply also ends where the template would start the user's next turn.
            Stop = chat ? [.. request.Stop.Union(Template.StopSequences)] : request.Stop,
            IgnoreEos = request.IgnoreEos,
            CheckpointAt = checkpoint,
        });
    }

    /// <summary>
    /// The conversation's prompt, and where its history (everything before the last message) ends when that is a
    /// token prefix of it: the state there is cached, so the next turn, or another chat with the same system
    /// prompt, prefills only what is new.
    /// </summary>
    (int[] Prompt, int Checkpoint) ChatPrompt(IReadOnlyList<ChatTurn> turns)
    {
        int[] prompt;
        try
        {
            prompt = model.Tokenizer.Encode(Template.Format(turns, addAssistantPrefix: true), addBos: true, Template.UsesSpecialTokens);
        }
        catch (ArgumentException e)
        {
            throw ApiError.BadRequest("messages", e.Message);
        }
        if (turns.Count < 2)
            return (prompt, 0);
        int[] history = model.Tokenizer.Encode(Template.Format([.. turns.Take(turns.Count - 1)], addAssistantPrefix: false), addBos: true, Template.UsesSpecialTokens);
        return (prompt, history.Length < prompt.Length && prompt.AsSpan().StartsWith(history) ? history.Length : 0);
    }
}
