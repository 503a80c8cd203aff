using System.Runtime.CompilerServices;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;
using Microsoft.Extensions.AI;

namespace Edge.Extensions.AI;

/// <summary>How an <see cref="EdgeChatClient"/> loads its model and what a request gets when its options say nothing.</summary>
public sealed class EdgeChatClientOptions
{
    /// <summary>How the model file is loaded (kernel, threads, mapping).</summary>
    public LoadOptions LoadOptions { get; set; } = new();

    /// <summary>The id reported in <see cref="ChatClientMetadata"/> and responses; null: the model file's name without .edge (as `edge serve` names it).</summary>
    public string? ModelId { get; set; }

    /// <summary>Tokens generated when <see cref="ChatOptions.MaxOutputTokens"/> is not set.</summary>
    public int DefaultMaxOutputTokens { get; set; } = 256;

    /// <summary>Sampling for what <see cref="ChatOptions"/> leaves unset (llama.cpp's defaults unless changed).</summary>
    public SamplingOptions DefaultSampling { get; set; } = new();
}

/// <summary>
/// An <see cref="IChatClient"/> that runs an Edge model in-process. The conversation is formatted with the model's
/// chat template (<see cref="ChatTemplate.For"/>); <see cref="ChatOptions"/> maps to Edge's sampling: Temperature,
/// TopP, TopK, Seed, MaxOutputTokens and StopSequences (added to the template's own). The client keeps the recurrent
/// state after the last prompt it read, so the next turn of that conversation (whose prompt text starts with it)
/// prefills only its new text (<see cref="UsageDetails.CachedInputTokenCount"/> says how much was reused). One generation runs at a time per
/// client; concurrent calls wait their turn. Tools, images and JSON response formats are refused with
/// <see cref="NotSupportedException"/>; cancellation throws <see cref="OperationCanceledException"/>.
/// </summary>
public sealed class EdgeChatClient : IChatClient
{
    readonly EdgeModel _model;
    readonly bool _ownsModel;
    readonly EdgeChatClientOptions _options;
    readonly Generator _generator;
    /// <summary>Has read the last prompt but its final token; each reply runs on a fork of it.</summary>
    readonly Session _lastPrompt;
    readonly ChatTemplate _template;
    readonly SemaphoreSlim _turn = new(1, 1);
    readonly ChatClientMetadata _metadata;

    /// <summary>Wraps a loaded model; with <paramref name="ownsModel"/> the client disposes it.</summary>
    public EdgeChatClient(EdgeModel model, EdgeChatClientOptions? options = null, bool ownsModel = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _ownsModel = ownsModel;
        _options = options ?? new EdgeChatClientOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(_options.DefaultMaxOutputTokens, nameof(EdgeChatClientOptions.DefaultMaxOutputTokens));
        _generator = new Generator(model);
        _lastPrompt = new Session(model);
        _template = ChatTemplate.For(model);
        ModelId = _options.ModelId ?? Path.GetFileNameWithoutExtension(model.Path);
        _metadata = new ChatClientMetadata("edge", null, ModelId);
    }

    /// <summary>Loads the model file at <paramref name="path"/> (errors as <see cref="EdgeModel.Load"/> gives them); the client owns it.</summary>
    public static EdgeChatClient Load(string path, EdgeChatClientOptions? options = null)
    {
        var model = EdgeModel.Load(path, options?.LoadOptions);
        try
        {
            return new EdgeChatClient(model, options, ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The model id responses report (<see cref="EdgeChatClientOptions.ModelId"/>, else the file name).</summary>
    public string ModelId { get; }

    /// <summary>The model this client runs.</summary>
    public EdgeModel Model => _model;

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var request = RequestOf(messages, options);
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        GenerationResult result;
        GenerationUsage prompt;
        try
        {
            var reply = ReadPrompt(request, cancellationToken, out prompt);
            result = await _generator.CompleteAsync(reply, request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _turn.Release();
        }
        if (result.FinishReason == FinishReason.Cancelled)
            throw new OperationCanceledException(cancellationToken);
        string id = NewId();
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text) { MessageId = id })
        {
            ResponseId = id,
            ModelId = ModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = FinishReasonOf(result),
            Usage = UsageOf(prompt, result),
            RawRepresentation = result,
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = RequestOf(messages, options);
        string id = NewId();
        var created = DateTimeOffset.UtcNow;
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var reply = ReadPrompt(request, cancellationToken, out var prompt);
            await foreach (var piece in _generator.GenerateAsync(reply, request, cancellationToken).ConfigureAwait(false))
            {
                if (piece.Result is not { } result)
                {
                    yield return Update(id, created, piece.Text);
                    continue;
                }
                if (result.FinishReason == FinishReason.Cancelled)
                    throw new OperationCanceledException(cancellationToken);
                var last = Update(id, created, piece.Text);
                last.FinishReason = FinishReasonOf(result);
                last.Contents.Add(new UsageContent(UsageOf(prompt, result)));
                last.RawRepresentation = result;
                yield return last;
            }
        }
        finally
        {
            _turn.Release();
        }
    }

    ChatResponseUpdate Update(string id, DateTimeOffset created, string text)
    {
        var update = new ChatResponseUpdate(ChatRole.Assistant, text.Length > 0 ? [new TextContent(text)] : [])
        {
            ResponseId = id,
            MessageId = id,
            ModelId = ModelId,
            CreatedAt = created,
        };
        return update;
    }

    /// <summary>The generation request for a conversation and its options; throws before anything runs.</summary>
    GenerationRequest RequestOf(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (options?.Tools is { Count: > 0 })
            throw new NotSupportedException("EdgeChatClient does not call tools: the model has no tool-calling format. Leave ChatOptions.Tools empty.");
        if (options?.ResponseFormat is ChatResponseFormatJson)
            throw new NotSupportedException("EdgeChatClient has no constrained JSON output; use ChatResponseFormat.Text.");
        if (options?.ModelId is { Length: > 0 } asked && asked != ModelId)
            throw new ArgumentException($"ChatOptions.ModelId is \"{asked}\", but this client runs \"{ModelId}\".", nameof(options));

        var sampling = _options.DefaultSampling;
        if (options is not null)
        {
            if (options.Temperature is float t && !(t >= 0 && float.IsFinite(t)))
                throw new ArgumentOutOfRangeException(nameof(options), $"ChatOptions.Temperature must be ≥ 0 (got {t}); 0 is greedy.");
            if (options.TopP is float p && !(p > 0 && p <= 1))
                throw new ArgumentOutOfRangeException(nameof(options), $"ChatOptions.TopP must be in (0, 1] (got {p}).");
            if (options.TopK is int k && k < 0)
                throw new ArgumentOutOfRangeException(nameof(options), $"ChatOptions.TopK must be ≥ 0 (got {k}); 0 disables it.");
            if (options.MaxOutputTokens is int m && m < 0)
                throw new ArgumentOutOfRangeException(nameof(options), $"ChatOptions.MaxOutputTokens must be ≥ 0 (got {m}).");
            sampling = sampling with
            {
                Temperature = options.Temperature ?? sampling.Temperature,
                TopP = options.TopP ?? sampling.TopP,
                TopK = options.TopK ?? sampling.TopK,
                Seed = options.Seed is long seed ? unchecked((ulong)seed) : sampling.Seed,
            };
        }
        return new GenerationRequest
        {
            Prompt = _template.Format(TurnsOf(messages, options?.Instructions), addAssistantPrefix: true),
            ParseSpecialTokens = _template.UsesSpecialTokens,
            MaxTokens = options?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens,
            Sampling = sampling,
            Stop = [.. (options?.StopSequences ?? []).Where(s => s.Length > 0).Union(_template.StopSequences)],
        };
    }

    /// <summary>
    /// Chat turns of the messages. System messages and <see cref="ChatOptions.Instructions"/> become the one leading
    /// system turn that chat templates allow, in the order given.
    /// </summary>
    static List<ChatTurn> TurnsOf(IEnumerable<ChatMessage> messages, string? instructions)
    {
        var system = new List<string>();
        var turns = new List<ChatTurn>();
        foreach (var message in messages)
        {
            foreach (var content in message.Contents)
                if (content is DataContent or UriContent or FunctionCallContent or FunctionResultContent)
                    throw new NotSupportedException($"EdgeChatClient reads text only; a {message.Role} message holds {content.GetType().Name}.");
            string role = message.Role.Value;
            if (message.Role == ChatRole.System)
                system.Add(message.Text);
            else if (message.Role == ChatRole.User || message.Role == ChatRole.Assistant)
                turns.Add(new ChatTurn(role, message.Text));
            else
                throw new NotSupportedException($"EdgeChatClient takes system, user and assistant messages; got role \"{role}\".");
        }
        if (!string.IsNullOrWhiteSpace(instructions))
            system.Add(instructions);
        if (system.Count > 0)
            turns.Insert(0, new ChatTurn(ChatTurn.System, string.Join("\n", system)));
        if (turns.Count == 0)
            throw new ArgumentException("The conversation has no messages.", nameof(messages));
        return turns;
    }

    static ChatFinishReason FinishReasonOf(GenerationResult result) =>
        result.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;

    /// <summary>
    /// Reads the prompt into <see cref="_lastPrompt"/>, reusing what it holds when that begins the prompt, and returns a
    /// fork for the reply: the reply's tokens never enter the kept state, since the next turn's prompt spells the reply
    /// through the template, and its tokens need not be the ones generated.
    /// </summary>
    Session ReadPrompt(GenerationRequest request, CancellationToken cancellationToken, out GenerationUsage usage)
    {
        usage = _generator.Prefill(_lastPrompt, request, cancellationToken);
        return _lastPrompt.Fork();
    }

    static UsageDetails UsageOf(GenerationUsage prompt, GenerationResult result) => new()
    {
        InputTokenCount = prompt.PromptTokens,
        CachedInputTokenCount = prompt.CachedPromptTokens,
        OutputTokenCount = result.Usage.CompletionTokens,
        TotalTokenCount = prompt.PromptTokens + result.Usage.CompletionTokens,
    };

    static string NewId() => "edge-" + Guid.NewGuid().ToString("N");

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
            return null;
        if (serviceType == typeof(ChatClientMetadata))
            return _metadata;
        if (serviceType == typeof(EdgeModel))
            return _model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Disposes the model if this client loaded it.</summary>
    public void Dispose()
    {
        _turn.Dispose();
        if (_ownsModel)
            _model.Dispose();
    }
}
