using System.Runtime.CompilerServices;
using Edge.Runtime.Model;
using Edge.Runtime.Sampling;
using Edge.Runtime.Tokenization;

namespace Edge.Runtime.Generation;

/// <summary>A generation request.</summary>
public sealed record GenerationRequest
{
    public required string Prompt { get; init; }

    /// <summary>Tokens to generate at most; generation also stops at EOS.</summary>
    public int MaxTokens { get; init; } = 128;

    /// <summary>
    /// End-of-text is not sampled before this many tokens (Hugging Face's <c>min_new_tokens</c>): a device that shows
    /// every text on a display wants some text, and small models often end a prompt at once. 0 lets it end anytime.
    /// </summary>
    public int MinTokens { get; init; }

    public SamplingOptions Sampling { get; init; } = new();
}

/// <summary>A piece of generated text and the token that completed it.</summary>
public readonly record struct GeneratedPiece(int TokenId, string Text);

/// <summary>What a finished generation did.</summary>
public sealed record GenerationResult(int[] PromptTokens, int[] Tokens, string Text, bool StoppedAtEos, TimeSpan PrefillTime, TimeSpan DecodeTime, ulong Seed);

/// <summary>
/// Streams text from a model. One generation runs at a time per <see cref="EdgeModel"/>; the recurrent state is
/// fresh for every request.
/// </summary>
public sealed class Generator(EdgeModel model)
{
    readonly float[] _logits = new float[model.Config.VocabSize];
    readonly int[] _next = new int[1];

    /// <summary>The last finished generation's tokens and timings.</summary>
    public GenerationResult? LastResult { get; private set; }

    /// <summary>Generates text piece by piece; cancel the token to stop early (the pieces so far stay valid).</summary>
    public async IAsyncEnumerable<GeneratedPiece> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (request.MaxTokens < 0 || request.MinTokens < 0)
            throw new ArgumentException($"MaxTokens ({request.MaxTokens}) and MinTokens ({request.MinTokens}) must be ≥ 0.");
        var tokenizer = model.Tokenizer;
        int[] prompt = tokenizer.Encode(request.Prompt);
        if (prompt.Length == 0)
            throw new ArgumentException("The prompt is empty and the model adds no BOS token; give a prompt.");
        var sampler = new Sampler(request.Sampling, model.Config.VocabSize);
        var state = model.Model.CreateState();
        var decoder = new EdgeTokenizer.StreamingDecoder(tokenizer, prompt[^1]);
        var generated = new List<int>(request.MaxTokens);
        var text = new System.Text.StringBuilder();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (int t in prompt)
            sampler.Accept(t);
        model.Model.Forward(prompt, state, _logits);
        var prefill = clock.Elapsed;
        clock.Restart();

        bool eos = false;
        while (generated.Count < request.MaxTokens)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (generated.Count < request.MinTokens && (uint)tokenizer.EosId < (uint)_logits.Length)
                _logits[tokenizer.EosId] = float.NegativeInfinity;
            int next = sampler.Sample(_logits);
            if (next == tokenizer.EosId)
            {
                eos = true;
                break;
            }
            generated.Add(next);
            sampler.Accept(next);
            string piece = decoder.Push(next);
            if (piece.Length > 0)
            {
                text.Append(piece);
                yield return new GeneratedPiece(next, piece);
            }
            if (generated.Count < request.MaxTokens)
            {
                _next[0] = next;
                model.Model.Forward(_next, state, _logits);
            }
            await Task.Yield();
        }
        string rest = decoder.Flush();
        if (rest.Length > 0)
        {
            text.Append(rest);
            yield return new GeneratedPiece(generated.Count > 0 ? generated[^1] : -1, rest);
        }
        LastResult = new GenerationResult(prompt, [.. generated], text.ToString(), eos, prefill, clock.Elapsed, sampler.Seed);
    }
}
