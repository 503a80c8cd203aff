using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Edge.Runtime.Sampling;
using Edge.Runtime.Tokenization;

namespace Edge.Runtime.Generation;

/// <summary>A generation request.</summary>
public sealed record GenerationRequest
{
    /// <summary>
    /// The prompt. By default the whole text of the sequence: a session whose tokens begin the prompt's tokens
    /// keeps its state and prefills only the rest; any other session starts over. With <see cref="AppendToSession"/>,
    /// text to add after what the session has read (a chat's next turn).
    /// </summary>
    public required string Prompt { get; init; }

    /// <summary>Tokens to generate at most; generation also stops at EOS and at a stop string.</summary>
    public int MaxTokens { get; init; } = 128;

    /// <summary>
    /// End-of-text is not sampled before this many tokens (Hugging Face's <c>min_new_tokens</c>): a device that shows
    /// every text on a display wants some text, and small models often end a prompt at once. 0 lets it end anytime.
    /// </summary>
    public int MinTokens { get; init; }

    /// <summary>How each next token is chosen.</summary>
    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Strings that end the reply (matched across tokens); the reply's text ends before the first one.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Treat <see cref="Prompt"/> as a continuation of the session (no BOS; see <see cref="EdgeTokenizer.EncodeContinuation"/>).</summary>
    public bool AppendToSession { get; init; }

    /// <summary>Encode special-token text in the prompt (such as "&lt;/s&gt;" or chat-template markers) as those tokens.</summary>
    public bool ParseSpecialTokens { get; init; }

    /// <summary>
    /// Prompt-lookup decoding: draft tokens from the sequence so far and verify them in one batch. The tokens are the
    /// same as without it, for every sampler; only the speed changes. Null (the default) decodes one token per pass.
    /// </summary>
    public PromptLookupOptions? PromptLookup { get; init; }
}

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>A stop string appeared (<see cref="GenerationResult.StopSequence"/>).</summary>
    Stop,

    /// <summary><see cref="GenerationRequest.MaxTokens"/> tokens were generated.</summary>
    Length,

    /// <summary>The model produced its EOS token.</summary>
    EndOfSequence,

    /// <summary>The cancellation token fired.</summary>
    Cancelled,
}

/// <summary>Token counts of a generation.</summary>
/// <param name="PromptTokens">Tokens of the whole prompt, the session's earlier tokens included.</param>
/// <param name="CachedPromptTokens">Of those, the ones the session had already read and were not prefilled again.</param>
/// <param name="CompletionTokens">Tokens generated.</param>
public readonly record struct GenerationUsage(int PromptTokens, int CachedPromptTokens, int CompletionTokens)
{
    /// <summary>Prompt tokens that had to be read (those the session did not hold already).</summary>
    public int PrefilledTokens => PromptTokens - CachedPromptTokens;
}

/// <summary>What a generation did; delivered with the last piece, also when it was cancelled.</summary>
public sealed record GenerationResult
{
    /// <summary>The prompt's tokens, BOS included, as the model read them.</summary>
    public required int[] PromptTokens { get; init; }

    /// <summary>Generated tokens, EOS excluded; a matched stop string's tokens included.</summary>
    public required int[] Tokens { get; init; }

    /// <summary>The reply: generated text up to (not including) a matched stop string.</summary>
    public required string Text { get; init; }

    /// <summary>The text of all <see cref="Tokens"/>, a matched stop string and whatever followed it in its token included.</summary>
    public required string DecodedText { get; init; }

    /// <summary>Why the generation ended.</summary>
    public required FinishReason FinishReason { get; init; }

    /// <summary>The stop string that ended the reply, or null.</summary>
    public string? StopSequence { get; init; }

    /// <summary>Token counts, as the OpenAI API reports them.</summary>
    public required GenerationUsage Usage { get; init; }

    /// <summary>Time spent reading the prompt.</summary>
    public TimeSpan PrefillTime { get; init; }

    /// <summary>Time spent generating, from the first sampled token to the end.</summary>
    public TimeSpan DecodeTime { get; init; }

    /// <summary>The sampler's seed (the one given, or the one drawn): the same seed and request give the same text.</summary>
    public ulong Seed { get; init; }

    /// <summary>What prompt-lookup decoding drafted and how much of it was generated (zero without <see cref="GenerationRequest.PromptLookup"/>).</summary>
    public PromptLookupUsage PromptLookup { get; init; }

    /// <summary>True when the model ended the text itself (<see cref="FinishReason.EndOfSequence"/>).</summary>
    public bool StoppedAtEos => FinishReason == FinishReason.EndOfSequence;
}

/// <summary>
/// A piece of generated text and the token that completed it. The last piece of every generation carries the
/// <see cref="GenerationResult"/> (its text may be empty).
/// </summary>
public readonly record struct GeneratedPiece(int TokenId, string Text, GenerationResult? Result = null);

/// <summary>
/// Generates text from a model, on a <see cref="Session"/> or on a fresh state per request. One generation runs
/// at a time per <see cref="EdgeModel"/>: starting a second while one runs (on any session of that model, from any
/// thread) throws <see cref="InvalidOperationException"/>. Cancellation does not throw: the stream ends at the
/// next token with a result whose reason is <see cref="FinishReason.Cancelled"/>.
/// </summary>
public sealed class Generator(EdgeModel model)
{
    readonly float[] _logits = new float[model.Config.VocabSize];
    readonly int[] _next = new int[1];

    /// <summary>The model this generator runs.</summary>
    public EdgeModel Model => model;

    /// <summary>Generates from a fresh state (the prompt is read in full).</summary>
    public IAsyncEnumerable<GeneratedPiece> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken = default) =>
        GenerateAsync(new Session(model), request, cancellationToken);

    /// <summary>
    /// Continues <paramref name="session"/> with the prompt and streams the reply piece by piece; the reply's
    /// tokens join the session. The last piece carries the result.
    /// </summary>
    public async IAsyncEnumerable<GeneratedPiece> GenerateAsync(Session session, GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (request.MaxTokens < 0 || request.MinTokens < 0)
            throw new ArgumentException($"MaxTokens ({request.MaxTokens}) and MinTokens ({request.MinTokens}) must be ≥ 0.");
        CheckSession(session);
        var lookup = request.PromptLookup is { } lookupOptions ? new PromptLookupDecoder(model.Model, lookupOptions) : null;
        var stops = new StopSequenceMatcher(request.Stop);
        var sampler = new Sampler(request.Sampling, model.Config.VocabSize);
        var tokenizer = model.Tokenizer;
        using var modelLease = model.EnterGeneration();
        using var sessionLease = session.Enter();

        var clock = Stopwatch.StartNew();
        var (prompt, cached) = PlanPrompt(session, request);
        var tokens = session.MutableTokens;
        foreach (int t in prompt)
            sampler.Accept(t);
        bool cancelled = !ReadPending(session, tokens.Count, cancellationToken);
        var prefill = clock.Elapsed;
        clock.Restart();

        var decoder = new EdgeTokenizer.StreamingDecoder(tokenizer, prompt[^1]);
        var generated = new List<int>(Math.Min(request.MaxTokens, 4096));
        var decoded = new StringBuilder();
        var text = new StringBuilder();
        var reason = cancelled ? FinishReason.Cancelled : FinishReason.Length;
        while (!cancelled)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                reason = FinishReason.Cancelled;
                break;
            }
            if (generated.Count == request.MaxTokens)
                break;
            if (generated.Count < request.MinTokens && (uint)tokenizer.EosId < (uint)_logits.Length)
                _logits[tokenizer.EosId] = float.NegativeInfinity;
            int next = sampler.Sample(_logits);
            if (next == tokenizer.EosId)
            {
                reason = FinishReason.EndOfSequence;
                break;
            }
            generated.Add(next);
            tokens.Add(next);
            sampler.Accept(next);
            string piece = decoder.Push(next);
            decoded.Append(piece);
            string shown = stops.Push(piece);
            if (shown.Length > 0)
            {
                text.Append(shown);
                yield return new GeneratedPiece(next, shown);
            }
            if (stops.IsStopped)
            {
                reason = FinishReason.Stop;
                break;
            }
            // The last token stays unread when nothing will be generated from it; the next prompt reads it.
            if (generated.Count < request.MaxTokens)
            {
                if (lookup is not null)
                    lookup.Advance(next, tokens, request.MaxTokens - generated.Count - 1, session.State, _logits);
                else
                {
                    _next[0] = next;
                    model.Model.Forward(_next, session.State, _logits);
                }
            }
            await Task.Yield();
        }
        string rest = decoder.Flush();
        decoded.Append(rest);
        string tail = stops.Push(rest) + stops.Flush();
        if (stops.IsStopped && reason != FinishReason.Cancelled)
            reason = FinishReason.Stop;
        text.Append(tail);
        var result = new GenerationResult
        {
            PromptTokens = prompt,
            Tokens = [.. generated],
            Text = text.ToString(),
            DecodedText = decoded.ToString(),
            FinishReason = reason,
            StopSequence = stops.MatchedStop,
            Usage = new GenerationUsage(prompt.Length, cached, generated.Count),
            PrefillTime = prefill,
            DecodeTime = clock.Elapsed,
            Seed = sampler.Seed,
            PromptLookup = lookup?.Usage ?? default,
        };
        yield return new GeneratedPiece(generated.Count > 0 ? generated[^1] : -1, tail, result);
    }

    /// <summary>Runs a generation from a fresh state to its end and returns the result.</summary>
    public Task<GenerationResult> CompleteAsync(GenerationRequest request, CancellationToken cancellationToken = default) =>
        CompleteAsync(new Session(model), request, cancellationToken);

    /// <summary>Runs a generation to its end and returns the result (the text is <see cref="GenerationResult.Text"/>).</summary>
    public async Task<GenerationResult> CompleteAsync(Session session, GenerationRequest request, CancellationToken cancellationToken = default)
    {
        await foreach (var piece in GenerateAsync(session, request, cancellationToken))
            if (piece.Result is { } result)
                return result;
        throw new UnreachableException("Every generation ends with a result.");
    }

    /// <summary>
    /// Reads a prompt into the session without generating (to save it, for example as a prompt cache). The prompt's
    /// last token is left unread, so a generation with the same prompt next starts from it at the cost of one step.
    /// Returns the usage: how many prompt tokens there are and how many the session already had.
    /// </summary>
    /// <exception cref="OperationCanceledException">The token fired; the session holds what was read so far.</exception>
    public GenerationUsage Prefill(Session session, GenerationRequest request, CancellationToken cancellationToken = default)
    {
        CheckSession(session);
        using var modelLease = model.EnterGeneration();
        using var sessionLease = session.Enter();
        var (prompt, cached) = PlanPrompt(session, request);
        if (!ReadPending(session, session.MutableTokens.Count - 1, cancellationToken))
            cancellationToken.ThrowIfCancellationRequested();
        return new GenerationUsage(prompt.Length, cached, 0);
    }

    void CheckSession(Session session)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.Model != model)
            throw new ArgumentException("The session belongs to another model.", nameof(session));
    }

    /// <summary>
    /// The prompt's tokens and how many of them the session already holds; the session's tokens become the prompt.
    /// A session that does not hold a prefix of the prompt, or holds all of it already read (no token would give
    /// the next logits), starts over.
    /// </summary>
    (int[] Prompt, int Cached) PlanPrompt(Session session, GenerationRequest request)
    {
        var tokenizer = model.Tokenizer;
        var tokens = session.MutableTokens;
        int[] prompt = request.AppendToSession && tokens.Count > 0
            ? [.. tokens, .. tokenizer.EncodeContinuation(request.Prompt, request.ParseSpecialTokens)]
            : tokenizer.Encode(request.Prompt, addBos: true, request.ParseSpecialTokens);
        if (prompt.Length == 0)
            throw new ArgumentException("The prompt is empty and the model adds no BOS token; give a prompt.");
        bool continues = tokens.Count <= prompt.Length && prompt.AsSpan(0, tokens.Count).SequenceEqual(tokens.ToArray())
            && session.State.Position < prompt.Length;
        if (!continues)
        {
            tokens.Clear();
            session.State.Reset();
        }
        int cached = tokens.Count;
        tokens.AddRange(prompt.AsSpan(cached));
        return (prompt, Math.Min(cached, session.State.Position));
    }

    /// <summary>Feeds the session's unread tokens up to <paramref name="end"/> in batches; false if cancelled first.</summary>
    bool ReadPending(Session session, int end, CancellationToken cancellationToken)
    {
        var tokens = session.MutableTokens;
        var state = session.State;
        int batch = Math.Max(model.Model.MaxBatch, 1);
        while (state.Position < end)
        {
            if (cancellationToken.IsCancellationRequested)
                return false;
            int n = Math.Min(batch, end - state.Position);
            model.Model.Forward(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokens).Slice(state.Position, n), state, _logits);
        }
        return true;
    }
}
