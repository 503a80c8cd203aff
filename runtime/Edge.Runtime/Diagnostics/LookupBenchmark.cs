using System.Diagnostics;
using System.Text.Json.Serialization;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;

namespace Edge.Runtime.Diagnostics;

/// <summary>What <see cref="LookupBenchmark.Run"/> measures.</summary>
/// <param name="ModelPath">The model file.</param>
/// <param name="Tokens">Tokens generated per run (fewer where the model ends the text).</param>
/// <param name="Threads">The thread counts, one model load each.</param>
/// <param name="Kernel">A forced kernel, or null for the default.</param>
/// <param name="Repetitions">Timed pairs of runs (plain, then with lookup, the order alternating) per workload and mode.</param>
/// <param name="Lookup">The prompt-lookup settings measured, as given and with drafting at every step (not adaptive).</param>
internal sealed record LookupBenchmarkSettings(string ModelPath, int Tokens, int[] Threads, string? Kernel, int Repetitions, PromptLookupOptions Lookup);

/// <summary>One workload at one thread count; serialized as <c>edge bench --lookup -o json</c> prints it.</summary>
internal sealed record LookupBenchmarkResult
{
    [JsonPropertyName("workload")] public required string Workload { get; init; }
    [JsonPropertyName("threads")] public required int Threads { get; init; }
    [JsonPropertyName("sampling")] public required string Sampling { get; init; }
    [JsonPropertyName("draft_tokens")] public required int DraftTokens { get; init; }
    [JsonPropertyName("adaptive")] public required bool Adaptive { get; init; }
    [JsonPropertyName("tokens")] public required int Tokens { get; init; }
    [JsonPropertyName("plain_tps")] public required double PlainTokensPerSecond { get; init; }
    [JsonPropertyName("lookup_tps")] public required double LookupTokensPerSecond { get; init; }

    /// <summary>The median over repetitions of lookup ÷ plain tokens/s, each pair measured back to back.</summary>
    [JsonPropertyName("speedup")] public required double SpeedUp { get; init; }

    [JsonPropertyName("drafted")] public required int DraftedTokens { get; init; }
    [JsonPropertyName("accepted")] public required int AcceptedTokens { get; init; }
    [JsonPropertyName("acceptance_rate")] public double AcceptanceRate => DraftedTokens > 0 ? (double)AcceptedTokens / DraftedTokens : 0;

    /// <summary>Generated tokens per forward pass with lookup (plain decoding: 1).</summary>
    [JsonPropertyName("tokens_per_pass")] public required double TokensPerPass { get; init; }

    /// <summary>
    /// A verification batch of k + 1 tokens in single-token steps' time, on this model and thread count: lookup wins
    /// where it gives more tokens per pass than this.
    /// </summary>
    [JsonPropertyName("batch_cost_steps")] public required double BatchCostSteps { get; init; }
}

/// <summary>
/// Prompt-lookup decoding against plain decoding (<c>edge bench --lookup</c>): the same generation with and without
/// it, back to back, on a workload whose text repeats what came before and on free text. Every pair must give the
/// same tokens; the figures are decode tokens/s (prefill excluded), the speed-up and the acceptance rate.
/// </summary>
internal static class LookupBenchmark
{
    /// <summary>A verse list the bundled model (KJV and Brown) goes on quoting: text that repeats itself, like code or a summary quoting its document.</summary>
    const string VerseList =
        "1:1 In the beginning God created the heaven and the earth. 1:2 And the earth was without form, and void; and " +
        "darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. 1:3 And God " +
        "said, Let there be light: and there was light. 1:1 In the beginning God created the heaven and the earth. 1:2 " +
        "And the earth was without form";

    /// <summary>
    /// Prose with nothing to quote. Greedy, the small model soon repeats its own phrases (as greedy decoding of small
    /// models does); sampled, it writes new text throughout.
    /// </summary>
    const string Prose = "The old man walked down to the river in the morning, and";

    /// <summary>A fixed seed, so the sampled workload gives the same text in every run.</summary>
    const ulong SampledSeed = 7;

    static readonly (string Name, string Prompt, SamplingOptions Sampling)[] Workloads =
    [
        ("verse list", VerseList, SamplingOptions.Greedy),
        ("prose", Prose, SamplingOptions.Greedy),
        ("prose", Prose, new SamplingOptions { Seed = SampledSeed }),
    ];

    /// <summary>One result per thread count and workload; <paramref name="log"/> hears what runs.</summary>
    public static LookupBenchmarkResult[] Run(LookupBenchmarkSettings settings, Action<string> log, CancellationToken cancel)
    {
        settings.Lookup.Validate();
        var results = new List<LookupBenchmarkResult>();
        foreach (int threads in settings.Threads)
        {
            using var model = EdgeModel.Load(settings.ModelPath, new LoadOptions { Threads = threads, Kernel = settings.Kernel });
            var generator = new Generator(model);
            double batchCost = BatchCostSteps(model, settings.Lookup.DraftTokens + 1, settings.Repetitions);
            foreach (var (name, prompt, sampling) in Workloads)
            {
                cancel.ThrowIfCancellationRequested();
                foreach (bool adaptive in new[] { settings.Lookup.Adaptive, !settings.Lookup.Adaptive })
                {
                    log($"{threads} thread(s), {name}, {Describe(sampling)}, {(adaptive ? "adaptive" : "always drafting")}: {settings.Repetitions} × (plain, lookup) of {settings.Tokens} tokens");
                    results.Add(Measure(generator, settings with { Lookup = settings.Lookup with { Adaptive = adaptive } }, threads, name, prompt, sampling, cancel) with { BatchCostSteps = batchCost });
                }
            }
        }
        return [.. results];
    }

    static LookupBenchmarkResult Measure(Generator generator, LookupBenchmarkSettings s, int threads, string name, string prompt, SamplingOptions sampling, CancellationToken cancel)
    {
        var plainRequest = new GenerationRequest { Prompt = prompt, MaxTokens = s.Tokens, Sampling = sampling };
        var lookupRequest = plainRequest with { PromptLookup = s.Lookup };
        // Warm-up: JIT and the batch sizes the lookup runs use.
        Complete(generator, plainRequest, cancel);
        var lookup = Complete(generator, lookupRequest, cancel);
        var plainRates = new double[s.Repetitions];
        var lookupRates = new double[s.Repetitions];
        var ratios = new double[s.Repetitions];
        for (int rep = 0; rep < s.Repetitions; rep++)
        {
            bool lookupFirst = rep % 2 == 1;
            var first = Complete(generator, lookupFirst ? lookupRequest : plainRequest, cancel);
            var second = Complete(generator, lookupFirst ? plainRequest : lookupRequest, cancel);
            var (plain, withLookup) = lookupFirst ? (second, first) : (first, second);
            if (!plain.Tokens.AsSpan().SequenceEqual(withLookup.Tokens))
                throw new InvalidOperationException($"Prompt lookup changed the tokens of the {name} workload; it must give exactly plain decoding's.");
            plainRates[rep] = Rate(plain);
            lookupRates[rep] = Rate(withLookup);
            ratios[rep] = lookupRates[rep] / plainRates[rep];
            lookup = withLookup;
        }
        var usage = lookup.PromptLookup;
        int passes = lookup.Tokens.Length - usage.AcceptedTokens;
        return new LookupBenchmarkResult
        {
            Workload = name,
            Threads = threads,
            Sampling = Describe(sampling),
            DraftTokens = s.Lookup.DraftTokens,
            Adaptive = s.Lookup.Adaptive,
            Tokens = lookup.Tokens.Length,
            PlainTokensPerSecond = Median(plainRates),
            LookupTokensPerSecond = Median(lookupRates),
            SpeedUp = Median(ratios),
            DraftedTokens = usage.DraftedTokens,
            AcceptedTokens = usage.AcceptedTokens,
            TokensPerPass = passes > 0 ? (double)lookup.Tokens.Length / passes : 0,
            BatchCostSteps = 0,
        };
    }

    /// <summary>
    /// The time of one <see cref="Model.HgrnBitModel.ForwardPositions"/> batch of <paramref name="n"/> tokens ÷ that of a
    /// single-token step, both timed in alternating rounds of 32; the median of the rounds' ratios.
    /// </summary>
    static double BatchCostSteps(EdgeModel edge, int n, int repetitions)
    {
        const int Passes = 32;
        var model = edge.Model;
        n = Math.Min(n, model.MaxBatch);
        var state = model.CreateState();
        var after = new Model.RecurrentState[n];
        for (int b = 0; b < n; b++)
            after[b] = model.CreateState();
        var logits = new float[n * edge.Config.VocabSize];
        var tokens = new int[n];
        for (int b = 0; b < n; b++)
            tokens[b] = (b * 7919 + 13) % edge.Config.VocabSize;
        var ratios = new double[repetitions];
        for (int rep = -1; rep < repetitions; rep++) // -1: untimed warm-up
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < Passes; i++)
                model.Forward(tokens.AsSpan(0, 1), state, logits);
            double step = Stopwatch.GetElapsedTime(start).TotalSeconds;
            start = Stopwatch.GetTimestamp();
            for (int i = 0; i < Passes; i++)
                model.ForwardPositions(tokens, state, after, logits);
            double batch = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (rep >= 0)
                ratios[rep] = batch / step;
        }
        return Median(ratios);
    }

    static GenerationResult Complete(Generator generator, GenerationRequest request, CancellationToken cancel)
    {
        var result = generator.CompleteAsync(request, cancel).GetAwaiter().GetResult();
        cancel.ThrowIfCancellationRequested();
        return result;
    }

    static double Rate(GenerationResult r) => r.Tokens.Length / r.DecodeTime.TotalSeconds;

    static string Describe(SamplingOptions sampling) => sampling.Temperature == 0 ? "greedy" : $"sampled, seed {sampling.Seed}";

    static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
