using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Edge.Runtime;
using Edge.Runtime.Sampling;
using Edge.Server.Scheduling;

namespace Edge.Cli.Commands;

/// <summary>
/// <c>edge serve bench</c>: aggregate decode throughput and time to first token of the server's scheduler with
/// N = 1, 2, 4, … concurrent streams, and the prefill the prefix-state cache saves on a long shared system prompt.
/// Runs the scheduler in-process (no HTTP), so it measures the engine and its batching, not the network stack.
/// </summary>
static class ServeBenchCommand
{
    /// <summary>Fixed so two runs feed the same token ids.</summary>
    const int TokenSeed = 20261207;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var common = new CommonOptions();
        var streams = new Option<string>("--streams", "-N") { Description = "Comma-separated counts of concurrent streams", DefaultValueFactory = _ => "1,2,4,8,16" };
        var generate = new Option<int>("--n-gen", "-n") { Description = "Tokens each stream generates (EOS ignored)", DefaultValueFactory = _ => 128 };
        var prompt = new Option<int>("--n-prompt", "-p") { Description = "Prompt tokens of each stream (random ids)", DefaultValueFactory = _ => 32 };
        var system = new Option<int>("--system-tokens") { Description = "Shared system-prompt length for the prefix-cache test; 0 skips it", DefaultValueFactory = _ => 1000 };
        var rounds = new Option<int>("--rounds", "-r") { Description = "Rounds over every stream count (the counts alternate within a round); medians are reported", DefaultValueFactory = _ => 3 };

        var command = new Command("bench", "Measure aggregate decode tokens/s and time to first token with N concurrent streams, and the prefix-state cache");
        common.AddTo(command);
        foreach (var o in new Option[] { streams, generate, prompt, system, rounds })
            command.Options.Add(o);

        command.SetAction((parse, cancel) => CliErrors.Guard(stderr, async () =>
        {
            int[] counts = ParseCounts(parse.GetValue(streams));
            int n = AtLeastOne(parse.GetValue(generate), "--n-gen");
            int p = AtLeastOne(parse.GetValue(prompt), "--n-prompt");
            int systemTokens = parse.GetValue(system);
            int roundCount = AtLeastOne(parse.GetValue(rounds), "--rounds");
            if (systemTokens < 0)
                throw new ArgumentException($"--system-tokens must be ≥ 0 (got {systemTokens}).");
            using var model = common.Load(parse);
            if (counts.Max() > model.Model.MaxBatch)
                throw new ArgumentException($"--streams must be ≤ {model.Model.MaxBatch}, the model's batch.");
            var rng = new Random(TokenSeed);
            int v = model.Config.VocabSize;
            int[] RandomTokens(int length) => [.. Enumerable.Range(0, length).Select(_ => rng.Next(3, v))];

            stdout.WriteLine($"edge serve bench: {model.File.Metadata.Name}, kernel {model.Model.Executor.KernelNames}, {model.Model.Executor.Threads} threads, " +
                $"prompt {p} tokens, {n} generated per stream, greedy, median of {roundCount} round(s)");
            stdout.WriteLine();
            // Untimed: compiles every path (tiered JIT when not AOT) and pages the weights in before the first count.
            await RunStreams(model, [.. Enumerable.Range(0, counts.Max()).Select(_ => RandomTokens(p))], Math.Min(n, 8), cancel);
            var measured = counts.ToDictionary(c => c, _ => new List<StreamsResult>());
            var prefill = new List<double>();
            for (int round = 0; round < roundCount; round++)
            {
                foreach (int count in counts)
                {
                    cancel.ThrowIfCancellationRequested();
                    var prompts = Enumerable.Range(0, count).Select(_ => RandomTokens(p)).ToArray();
                    measured[count].Add(await RunStreams(model, prompts, n, cancel));
                }
                prefill.Add(await PrefillTokensPerSecond(model, RandomTokens(PrefillProbeTokens), cancel));
            }
            double? single = measured.TryGetValue(1, out var one) ? Median(one, r => r.DecodeTokensPerSecond) : null;
            double ceiling = Median(prefill);
            string ofSingle = single is double one1 ? string.Create(CultureInfo.InvariantCulture, $" = {ceiling / one1:F2}× 1-stream decode") : "";
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Batched-product ceiling: prefill of {PrefillProbeTokens} tokens in batches of {model.Model.MaxBatch} runs at {ceiling:F1} tok/s{ofSingle} (no lm_head per token, so decode batches stay below it)."));
            stdout.WriteLine();
            stdout.WriteLine("| streams | decode tok/s (aggregate) | × 1 stream | per stream tok/s | wall tok/s | TTFT mean ms | TTFT max ms |");
            stdout.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
            foreach (int count in counts)
            {
                var runs = measured[count];
                double decode = Median(runs, r => r.DecodeTokensPerSecond);
                string ratio = single is double s ? (decode / s).ToString("F2", CultureInfo.InvariantCulture) : "–";
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {count} | {decode:F1} | {ratio} | {decode / count:F1} | {Median(runs, r => r.WallTokensPerSecond):F1} | {Median(runs, r => r.MeanTtft.TotalMilliseconds):F1} | {Median(runs, r => r.MaxTtft.TotalMilliseconds):F1} |"));
            }

            if (systemTokens > 0)
            {
                int[] shared = RandomTokens(systemTokens);
                int[] first = [.. shared, .. RandomTokens(16)], second = [.. shared, .. RandomTokens(16)];
                var cold = await SecondRequest(model, first, second, systemTokens, cacheBytes: 0, cancel);
                var warm = await SecondRequest(model, first, second, systemTokens, cacheBytes: 64L << 20, cancel);
                stdout.WriteLine();
                stdout.WriteLine($"Prefix-state cache, {systemTokens}-token system prompt + 16 new tokens, second request:");
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  without cache: prefill {cold.Prefill.TotalMilliseconds:F1} ms ({cold.Cached} tokens cached), time to first token {cold.Ttft.TotalMilliseconds:F1} ms"));
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  with cache:    prefill {warm.Prefill.TotalMilliseconds:F1} ms ({warm.Cached} tokens cached), time to first token {warm.Ttft.TotalMilliseconds:F1} ms " +
                    $"({cold.Ttft.TotalMilliseconds / Math.Max(warm.Ttft.TotalMilliseconds, 1e-3):F1}× sooner; state {model.Model.CreateState().Bytes / 1024} KiB)"));
            }
            return 0;
        }));
        return command;
    }

    sealed record StreamsResult(double DecodeTokensPerSecond, double WallTokensPerSecond, TimeSpan MeanTtft, TimeSpan MaxTtft);

    /// <summary>Submits every prompt at once to a scheduler with as many slots and waits for all of them.</summary>
    static async Task<StreamsResult> RunStreams(EdgeModel model, int[][] prompts, int tokens, CancellationToken cancel)
    {
        using var scheduler = new BatchScheduler(model, new SchedulerOptions { Parallel = prompts.Length, Queue = 0, PrefixCacheBytes = 0 });
        var start = Stopwatch.GetTimestamp();
        var runs = prompts.Select(prompt => Submit(scheduler, prompt, tokens, cancel)).ToArray();
        // Time to first token on the scheduler's clock: a client's own thread scheduling is not the server's.
        var results = await Task.WhenAll(runs.Select(async run =>
        {
            var result = await run.Sequence.Completion;
            return (Ttft: result.TimeToFirstToken ?? TimeSpan.Zero, Result: result);
        }));
        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        foreach (var (_, result) in results)
            if (result.Reason is not SequenceEnd.Length)
                throw new InvalidOperationException($"A stream ended with {result.Reason}: {result.Error?.Message}");
        long generated = results.Sum(r => r.Result.Tokens.Length);
        // Decode tokens: all but each stream's first, which comes from its prompt's logits; over the time of the
        // batched steps (prefill chunks between them excluded; the wall-clock figure includes them).
        double decode = (generated - prompts.Length) / scheduler.Metrics.DecodeTime.TotalSeconds;
        return new StreamsResult(decode, generated / wall,
            TimeSpan.FromTicks((long)results.Average(r => r.Ttft.Ticks)), results.Max(r => r.Ttft));
    }

    /// <summary>Runs <paramref name="first"/> to fill the cache (when on), then times <paramref name="second"/>.</summary>
    static async Task<(TimeSpan Prefill, TimeSpan Ttft, int Cached)> SecondRequest(EdgeModel model, int[] first, int[] second, int checkpoint, long cacheBytes, CancellationToken cancel)
    {
        using var scheduler = new BatchScheduler(model, new SchedulerOptions { Parallel = 1, Queue = 1, PrefixCacheBytes = cacheBytes });
        var warmUp = Submit(scheduler, first, 1, cancel, checkpoint);
        await warmUp.Sequence.Completion;
        var run = Submit(scheduler, second, 1, cancel, checkpoint);
        var result = await run.Sequence.Completion;
        return (result.PrefillTime, result.TimeToFirstToken ?? TimeSpan.Zero, result.CachedPromptTokens);
    }

    sealed record Run(Sequence Sequence);

    static Run Submit(BatchScheduler scheduler, int[] prompt, int tokens, CancellationToken cancel, int checkpoint = 0)
    {
        var request = new SequenceRequest { PromptTokens = prompt, MaxTokens = tokens, Sampling = SamplingOptions.Greedy, IgnoreEos = true, CheckpointAt = checkpoint };
        if (scheduler.TrySubmit(request, cancel, out var sequence) != SubmitStatus.Accepted)
            throw new InvalidOperationException("The scheduler refused a benchmark stream.");
        return new Run(sequence!);
    }

    const int PrefillProbeTokens = 512;

    /// <summary>Prompt tokens/s of one prompt prefilled alone (batched products, one logits row at the end).</summary>
    static async Task<double> PrefillTokensPerSecond(EdgeModel model, int[] prompt, CancellationToken cancel)
    {
        using var scheduler = new BatchScheduler(model, new SchedulerOptions { Parallel = 1, Queue = 0, PrefixCacheBytes = 0 });
        var result = await Submit(scheduler, prompt, 0, cancel).Sequence.Completion;
        return prompt.Length / result.PrefillTime.TotalSeconds;
    }

    static double Median(List<StreamsResult> runs, Func<StreamsResult, double> value) => Median([.. runs.Select(value)]);

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    static int AtLeastOne(int value, string name) =>
        value >= 1 ? value : throw new ArgumentException($"{name} must be at least 1 (got {value}).");

    static int[] ParseCounts(string? text)
    {
        var counts = new List<int>();
        foreach (string part in (text ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1)
                throw new ArgumentException($"--streams takes whole numbers ≥ 1 separated by commas; \"{part}\" is not one.");
            if (!counts.Contains(n))
                counts.Add(n);
        }
        return counts.Count > 0 ? [.. counts] : throw new ArgumentException("--streams needs at least one count, e.g. -N 1,8.");
    }
}
