using System.Numerics;
using System.Runtime.InteropServices;

namespace Edge.Runtime.Sampling;

/// <summary>
/// Picks the next token from logits, in the order HuggingFace's generate applies the same settings (which is how
/// the official MMfreeLM examples sample): repetition penalty, temperature, top-k, top-p, min-p, then a draw.
/// Temperature 0 is greedy (arg-max after the penalty). Buffers are allocated once; sampling a token allocates
/// nothing. Deterministic for a given seed: the generator is SplitMix64, fixed here, not the framework's Random.
/// </summary>
internal sealed class Sampler
{
    readonly SamplingOptions _options;
    readonly int[] _candidates;    // (V) token ids, best first after selection
    readonly float[] _probs;       // (V) probabilities of the candidates, same order
    readonly int[] _recent;        // (RepeatLastN) ring of recent tokens
    int _recentCount, _recentNext;
    ulong _rng;

    public Sampler(SamplingOptions options, int vocabularySize)
    {
        options.Validate();
        _options = options;
        _candidates = new int[vocabularySize];
        _probs = new float[vocabularySize];
        _recent = new int[options.RepeatLastN];
        _rng = options.Seed ?? (ulong)Environment.TickCount64 ^ (ulong)Environment.ProcessId << 32;
        Seed = _rng;
    }

    /// <summary>The seed in use (the drawn one when none was given).</summary>
    public ulong Seed { get; }

    /// <summary>The token ids <see cref="SelectTop"/> chose, best first.</summary>
    internal ReadOnlySpan<int> Candidates => _candidates;

    /// <summary>Records a token (prompt or generated) for the repetition penalty.</summary>
    public void Accept(int token)
    {
        if (_recent.Length == 0)
            return;
        _recent[_recentNext] = token;
        _recentNext = (_recentNext + 1) % _recent.Length;
        _recentCount = Math.Min(_recentCount + 1, _recent.Length);
    }

    /// <summary>Chooses a token. <paramref name="logits"/> is modified (penalty and temperature are applied in place).</summary>
    public int Sample(Span<float> logits)
    {
        int v = logits.Length;
        if (v == 0)
            throw new ArgumentException("No logits to sample from.", nameof(logits));
        if (v > _candidates.Length)
            throw new ArgumentException("More logits than the vocabulary the sampler was made for.", nameof(logits));
        ApplyRepeatPenalty(logits);
        if (_options.Temperature == 0)
            return ArgMax(logits);

        float inverseTemperature = 1f / _options.Temperature;
        int k = _options.TopK > 0 ? Math.Min(_options.TopK, v) : v;
        int n = SelectTop(logits, k);

        // Softmax over the candidates (sorted best first), then the top-p and min-p cuts.
        float max = logits[_candidates[0]];
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            float p = MathF.Exp((logits[_candidates[i]] - max) * inverseTemperature);
            _probs[i] = p;
            sum += p;
        }
        double cumulative = 0;
        int keep = n;
        for (int i = 0; i < n; i++)
        {
            cumulative += _probs[i] / sum;
            if (cumulative >= _options.TopP)
            {
                keep = i + 1;
                break;
            }
        }
        float minProbability = _options.MinP * _probs[0];
        while (keep > 1 && _probs[keep - 1] < minProbability)
            keep--;

        double total = 0;
        for (int i = 0; i < keep; i++)
            total += _probs[i];
        double r = NextDouble() * total;
        for (int i = 0; i < keep; i++)
        {
            r -= _probs[i];
            if (r < 0)
                return _candidates[i];
        }
        return _candidates[keep - 1];
    }

    void ApplyRepeatPenalty(Span<float> logits)
    {
        float penalty = _options.RepeatPenalty;
        if (penalty == 1f || _recentCount == 0)
            return;
        // Each distinct recent token is penalised once, as in llama.cpp and HF; duplicates are found by a scan of
        // the (short) ring instead of a set, so nothing is allocated.
        for (int i = 0; i < _recentCount; i++)
        {
            int t = _recent[i];
            if ((uint)t >= (uint)logits.Length || AlreadyPenalised(i, t))
                continue;
            logits[t] = logits[t] > 0 ? logits[t] / penalty : logits[t] * penalty;
        }
    }

    bool AlreadyPenalised(int index, int token)
    {
        for (int j = 0; j < index; j++)
            if (_recent[j] == token)
                return true;
        return false;
    }

    /// <summary>Fills _candidates[0..k) with the k highest logits, best first (lower ids first on ties); returns k.</summary>
    internal int SelectTop(ReadOnlySpan<float> logits, int k)
    {
        int v = logits.Length;
        if (k >= v)
        {
            for (int i = 0; i < v; i++)
                _candidates[i] = i;
            SortDescending(logits, _candidates.AsSpan(0, v));
            return v;
        }
        // Min-heap of the best k seen so far, then sort those k.
        var heap = _candidates.AsSpan(0, k);
        for (int i = 0; i < k; i++)
            heap[i] = i;
        for (int i = k / 2 - 1; i >= 0; i--)
            SiftDown(logits, heap, i);
        for (int i = NextAbove(logits, k, logits[heap[0]]); i < v; i = NextAbove(logits, i + 1, logits[heap[0]]))
        {
            heap[0] = i;
            SiftDown(logits, heap, 0);
        }
        SortDescending(logits, heap);
        return k;
    }

    static void SiftDown(ReadOnlySpan<float> logits, Span<int> heap, int i)
    {
        while (true)
        {
            int l = 2 * i + 1, r = l + 1, smallest = i;
            if (l < heap.Length && Worse(logits, heap[l], heap[smallest]))
                smallest = l;
            if (r < heap.Length && Worse(logits, heap[r], heap[smallest]))
                smallest = r;
            if (smallest == i)
                return;
            (heap[i], heap[smallest]) = (heap[smallest], heap[i]);
            i = smallest;
        }
    }

    // Lower logit is worse; on ties the higher id is worse, so selection is deterministic.
    static bool Worse(ReadOnlySpan<float> logits, int a, int b) => logits[a] < logits[b] || (logits[a] == logits[b] && a > b);

    static void SortDescending(ReadOnlySpan<float> logits, Span<int> ids)
    {
        // Insertion sort for short lists, heap sort otherwise; both in place with no allocation.
        if (ids.Length <= 64)
        {
            for (int i = 1; i < ids.Length; i++)
            {
                int id = ids[i], j = i - 1;
                while (j >= 0 && Worse(logits, ids[j], id))
                {
                    ids[j + 1] = ids[j];
                    j--;
                }
                ids[j + 1] = id;
            }
            return;
        }
        for (int i = ids.Length / 2 - 1; i >= 0; i--)
            SiftDown(logits, ids, i);
        for (int end = ids.Length - 1; end > 0; end--)
        {
            (ids[0], ids[end]) = (ids[end], ids[0]);
            SiftDown(logits, ids[..end], 0);
        }
    }

    /// <summary>The first index of the largest logit; NaNs never win (unless the first logit is one).</summary>
    internal static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = NextAbove(logits, 1, logits[0]); i < logits.Length; i = NextAbove(logits, i + 1, logits[best]))
            best = i;
        return best;
    }

    /// <summary>
    /// The first index from <paramref name="start"/> on whose value is above <paramref name="threshold"/>, or the
    /// length. The arg-max and top-k scans over the vocabulary call it with the bar they have reached, which is
    /// soon rarely beaten, so they compare a vector at a time and look at single values only where one passes.
    /// </summary>
    static int NextAbove(ReadOnlySpan<float> values, int start, float threshold)
    {
        int i = start;
        if (Vector.IsHardwareAccelerated)
        {
            var bar = new Vector<float>(threshold);
            ref float first = ref MemoryMarshal.GetReference(values);
            while (i + Vector<float>.Count <= values.Length && !Vector.GreaterThanAny(Vector.LoadUnsafe(ref first, (nuint)i), bar))
                i += Vector<float>.Count;
        }
        while (i < values.Length && !(values[i] > threshold))
            i++;
        return i;
    }

    double NextDouble()
    {
        ulong z = _rng += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
