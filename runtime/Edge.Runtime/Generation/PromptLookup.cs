using System.Diagnostics;
using System.Runtime.InteropServices;
using Edge.Runtime.Model;

namespace Edge.Runtime.Generation;

/// <summary>
/// Prompt-lookup decoding (<see cref="GenerationRequest.PromptLookup"/>): after each token, the tokens that followed
/// the latest earlier occurrence of the sequence's last n tokens are drafted as its continuation, and the token and
/// its drafts run through the model as one batch, so each weight is read once for all of them. Every drafted token
/// that the sampler then picks costs no forward pass of its own. The text is exactly what plain decoding gives, for
/// every sampler: each token is still sampled, in order, from the logits plain decoding would compute (the batch
/// gives bit-identical logits per position); a draft only decides which logits are computed ahead. It pays off
/// where text repeats what came before (code, a document being summarised or quoted, lists) and where a batch costs
/// little more than one token (decode bound by memory bandwidth); on free text most drafts are rejected, so it is off
/// by default.
/// </summary>
public sealed record PromptLookupOptions
{
    /// <summary>
    /// Tokens drafted at most per step (k); a batch is the token and its drafts, so at most the model's batch size less
    /// one. The default, 3, makes a batch of 4, which the batched kernels run as one four-token group: on the build
    /// machine it costs under three single-token steps, where a batch of 8 costs about five (docs/PERFORMANCE.md).
    /// </summary>
    public int DraftTokens { get; init; } = 3;

    /// <summary>The longest suffix looked up (n); shorter ones down to <see cref="MinNgramSize"/> are tried when it does not occur earlier.</summary>
    public int NgramSize { get; init; } = 3;

    /// <summary>The shortest suffix looked up; nothing is drafted when no suffix of this length or longer occurs earlier.</summary>
    public int MinNgramSize { get; init; } = 1;

    /// <summary>
    /// Run a batch only where it is expected to pay: batches and single-token steps are timed as they run, and the
    /// tokens a batch gives (1 + its accepted drafts) are averaged, also from drafts that were not run, which are
    /// checked against the tokens that follow them at no cost. Drafting goes on while a batch gives more tokens than
    /// the steps it costs, so where batches do not pay (free text, or a CPU on which a batch costs nearly as much as
    /// its tokens one by one) decoding runs at plain speed after one measuring batch. False runs a batch at every
    /// step that finds a match.
    /// </summary>
    public bool Adaptive { get; init; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (DraftTokens < 1)
            throw new ArgumentException($"Prompt lookup drafts at least 1 token (got {DraftTokens}).");
        if (MinNgramSize < 1 || NgramSize < MinNgramSize)
            throw new ArgumentException($"Prompt lookup needs 1 ≤ MinNgramSize ≤ NgramSize (got {MinNgramSize} and {NgramSize}).");
    }
}

/// <summary>What prompt-lookup decoding did in one generation (all zero when it was off).</summary>
/// <param name="Batches">Verification batches that held drafts (steps without a draft run one token, as plain decoding).</param>
/// <param name="DraftedTokens">Tokens drafted in those batches.</param>
/// <param name="AcceptedTokens">Drafted tokens that were then generated, each saving a forward pass.</param>
public readonly record struct PromptLookupUsage(int Batches, int DraftedTokens, int AcceptedTokens)
{
    /// <summary>Accepted ÷ drafted tokens; 0 when nothing was drafted.</summary>
    public double AcceptanceRate => DraftedTokens > 0 ? (double)AcceptedTokens / DraftedTokens : 0;
}

/// <summary>
/// The forward step of a generation with prompt lookup. It holds the last batch: the tokens [t, d1..dk], the logits
/// after each (k+1, V) and the state after each. <see cref="Advance"/> takes the next generated token: when it is
/// the next draft, its logits and state are already there; otherwise a new batch runs from the current state.
/// The session's state is always the one plain decoding would have (the state after the token just advanced).
/// </summary>
internal sealed class PromptLookupDecoder
{
    readonly HgrnBitModel _model;
    readonly PromptLookupOptions _options;
    readonly int _vocabulary;
    readonly int _maxDrafts;
    readonly int[] _batch;             // (1 + k) the token and its drafts
    readonly float[] _logits;          // (1 + k, V) the logits after each token of the batch
    readonly RecurrentState[] _states; // (1 + k) the state after each token of the batch
    int _count;                        // tokens in the batch; 0 when none is held
    int _cursor;                       // the batch token the session's state has just read
    int _batches, _drafted, _accepted;
    // Adaptive: moving averages of a plain step's time, of a batch's time in plain steps and of the tokens a batch
    // gives (1 + the drafts accepted); 0 until measured.
    double _stepSeconds, _batchSteps, _tokensPerBatch;
    double _batchSeconds;              // the held batch's time
    // Adaptive, while no batch runs: a draft that was not verified, checked against the tokens that follow it, so the
    // tokens a batch would give stay measured at no cost.
    readonly int[] _shadow;
    int _shadowLength, _shadowMatched;

    const double Smoothing = 0.25;

    public PromptLookupDecoder(HgrnBitModel model, PromptLookupOptions options)
    {
        options.Validate();
        _model = model;
        _options = options;
        _vocabulary = model.Config.VocabSize;
        _maxDrafts = Math.Min(options.DraftTokens, model.MaxBatch - 1);
        _batch = new int[_maxDrafts + 1];
        _logits = new float[(_maxDrafts + 1) * _vocabulary];
        _states = new RecurrentState[_maxDrafts + 1];
        for (int i = 0; i < _states.Length; i++)
            _states[i] = model.CreateState();
        _shadow = new int[_maxDrafts];
    }

    public PromptLookupUsage Usage => new(_batches, _drafted, _accepted);

    /// <summary>
    /// Reads <paramref name="token"/>, the last of <paramref name="history"/> (the session's tokens), into
    /// <paramref name="state"/> and writes the logits after it; at most <paramref name="draftLimit"/> tokens are
    /// drafted (those that could still be generated and read).
    /// </summary>
    public void Advance(int token, List<int> history, int draftLimit, RecurrentState state, Span<float> logits)
    {
        if (_cursor + 1 < _count && _batch[_cursor + 1] == token)
        {
            _cursor++;
            _accepted++;
            state.CopyFrom(_states[_cursor]);
            _logits.AsSpan(_cursor * _vocabulary, _vocabulary).CopyTo(logits);
            return;
        }
        if (_count > 0 && _stepSeconds > 0)
        {
            _batchSteps = Average(_batchSteps, _batchSeconds / _stepSeconds);
            _tokensPerBatch = Average(_tokensPerBatch, _cursor + 1);
        }
        _count = 0;
        long start = Stopwatch.GetTimestamp();
        int drafts = Draft(CollectionsMarshal.AsSpan(history), _batch.AsSpan(1, Math.Min(_maxDrafts, draftLimit)), _options.NgramSize, _options.MinNgramSize);
        if (_options.Adaptive)
        {
            CheckShadow(token);
            if (drafts > 0 && !BatchPays())
            {
                if (_shadowLength == 0)
                    _batch.AsSpan(1, _shadowLength = drafts).CopyTo(_shadow);
                drafts = 0;
            }
        }
        if (drafts == 0)
        {
            _model.Forward([token], state, logits);
            _stepSeconds = Average(_stepSeconds, Stopwatch.GetElapsedTime(start).TotalSeconds);
            return;
        }
        _shadowLength = _shadowMatched = 0;
        _batch[0] = token;
        _count = drafts + 1;
        _cursor = 0;
        _batches++;
        _drafted += drafts;
        _model.ForwardPositions(_batch.AsSpan(0, _count), state, _states, _logits);
        _batchSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        state.CopyFrom(_states[0]);
        _logits.AsSpan(0, _vocabulary).CopyTo(logits);
    }

    /// <summary>
    /// Adaptive: whether a batch is expected to give more tokens than the plain steps it costs. The first step is plain
    /// (so batches have a step to be compared with); the first batch after it runs to measure what a batch costs.
    /// </summary>
    bool BatchPays() => _stepSeconds > 0 && (_batchSteps == 0 || _tokensPerBatch > _batchSteps);

    /// <summary>Adaptive: matches the next generated token against the unverified draft; when it ends, counts what a batch would have given.</summary>
    void CheckShadow(int token)
    {
        if (_shadowLength == 0)
            return;
        if (_shadow[_shadowMatched] == token && ++_shadowMatched < _shadowLength)
            return;
        _tokensPerBatch = Average(_tokensPerBatch, 1 + _shadowMatched);
        _shadowLength = _shadowMatched = 0;
    }

    static double Average(double average, double sample) => average == 0 ? sample : average + Smoothing * (sample - average);

    /// <summary>
    /// Writes into <paramref name="draft"/> the tokens that followed the latest earlier occurrence of the longest
    /// suffix of <paramref name="history"/> (from <paramref name="longest"/> down to <paramref name="shortest"/>
    /// tokens) that occurs earlier, and returns how many. Where the
    /// occurrence is so recent that its continuation runs into the suffix, the draft goes on copying itself (a
    /// sequence with period p continues with period p).
    /// </summary>
    internal static int Draft(ReadOnlySpan<int> history, Span<int> draft, int longest, int shortest)
    {
        int length = history.Length;
        if (draft.IsEmpty)
            return 0;
        for (int n = Math.Min(longest, length - 1); n >= shortest; n--)
        {
            var suffix = history[^n..];
            // The latest occurrence that ends before the last token, so at least one token follows it.
            int found = history[..(length - 1)].LastIndexOf(suffix);
            if (found < 0)
                continue;
            int from = found + n;
            for (int j = 0; j < draft.Length; j++)
                draft[j] = from + j < length ? history[from + j] : draft[from + j - length];
            return draft.Length;
        }
        return 0;
    }
}
