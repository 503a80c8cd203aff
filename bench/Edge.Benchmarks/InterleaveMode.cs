using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Edge.Runtime;
using Edge.Runtime.Kernels;

namespace Edge.Benchmarks;

/// <summary>
/// <c>interleave</c>: two model files in one process, decoding alternately token by token (and prefilling
/// alternately), so that both see the same machine state. On a shared machine whole runs of <c>edge bench</c> spread
/// by ±10 %; differences of a few percent, such as the same weights packed 2-bit and 1.6-bit, need this.
/// </summary>
static class InterleaveMode
{
    sealed record Options(string First, string Second, string?[] Kernels, bool[] InMemory, bool[] NoPrefetch, int[] Threads, int Tokens, int PromptTokens, int Rounds);

    const string Description = """
        Loads both models (default kernels, or kernel a for A and b for B; mapped, or read into memory as with edge's
        --no-mmap; --no-prefetch: that model's idle workers do not read ahead into the next product; to compare
        kernels, loading or prefetching, give one file twice: two copies of a file can differ by 10 % in decode
        speed, depending on where their pages lie) and, per thread count, decodes --tokens random tokens on
        each, alternating one token at a time (which model goes first alternates too), then runs --rounds prefills of
        --prompt tokens, alternating. Prints median and 10th-percentile ms per decoded token, median prefill tok/s, and B ÷ A speed.
        """;

    public static Command CreateCommand()
    {
        var files = new Argument<string[]>("A.edge B.edge")
        {
            Description = "The two model files, A and B (one file twice compares kernels, loading or prefetching)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var kernels = new Option<string?[]>("--kernels")
        {
            Description = "Two kernel names, one for A and one for B, e.g. avx2,avx512 [default: the fastest kernel for both]",
            HelpName = "a,b",
            CustomParser = result => ModeCommandLine.ParseOrReport(result, () =>
            {
                string[] names = result.Tokens[0].Value.Split(',', StringSplitOptions.TrimEntries);
                if (names.Length != 2 || names.Any(string.IsNullOrEmpty))
                    throw new ArgumentException("--kernels takes two kernel names, one for A and one for B (e.g. avx2,avx512).");
                foreach (string name in names)
                    KernelFactory.Select(name); // an unknown name fails here, with the list of kernels this CPU has
                return names;
            }),
        };
        var inMemory = ModelsFlag("--no-mmap", "Read A, B or both into memory instead of mapping them");
        var noPrefetch = ModelsFlag("--no-prefetch", "A, B or both: idle workers do not read ahead into the next product");
        var threads = ModeCommandLine.Threads();
        var tokens = ModeCommandLine.WholeNumber("--tokens", 400, "Decoded tokens per model and thread count");
        var prompt = ModeCommandLine.WholeNumber("--prompt", 256, "Tokens per prefill");
        var rounds = ModeCommandLine.WholeNumber("--rounds", 6, "Prefills per model and thread count");

        var command = new Command("interleave", Description) { files, kernels, inMemory, noPrefetch, threads, tokens, prompt, rounds };
        // On the command, not the argument: an argument given no words is not validated at all.
        command.Validators.Add(result =>
        {
            var given = result.GetResult(files)?.Tokens.Select(t => t.Value).ToList() ?? [];
            if (given.FirstOrDefault(f => f.StartsWith('-')) is { } unknown)
                result.AddError($"Unknown option {unknown}.");
            else if (given.Count != 2)
                result.AddError($"Give two model files (got {given.Count}).");
            else
                foreach (string file in given)
                    if (!ModeCommandLine.CheckModelExists(result, file))
                        break;
        });
        command.SetAction(parse =>
        {
            string[] models = parse.GetValue(files)!;
            bool[] neither = [false, false];
            return Run(new Options(models[0], models[1], parse.ValueOr(kernels, [null, null]), parse.ValueOr(inMemory, neither), parse.ValueOr(noPrefetch, neither),
                parse.ValueOr(threads, ModeCommandLine.DefaultThreads), parse.GetValue(tokens), parse.GetValue(prompt), parse.GetValue(rounds)));
        });
        return command;
    }

    /// <summary>An option naming A, B or A,B (repeatable): which of the two models it applies to.</summary>
    static Option<bool[]> ModelsFlag(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "A|B|A,B",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result =>
        {
            bool[] applies = [false, false];
            foreach (string model in ModeCommandLine.ParseList(result, name, m => m))
            {
                int index = model switch
                {
                    "A" or "a" => 0,
                    "B" or "b" => 1,
                    _ => -1,
                };
                if (index < 0)
                {
                    result.AddError($"{name} takes A, B or A,B (got \"{model}\").");
                    break;
                }
                applies[index] = true;
            }
            return applies;
        },
    };

    static int Run(Options options)
    {
        Console.WriteLine("# Two models, one process, alternating token by token");
        Console.WriteLine();
        string Source(int m) => (options.InMemory[m] ? "read into memory" : "mapped") + (options.NoPrefetch[m] ? ", no prefetch" : "");
        Console.WriteLine(Fmt($"- A: {options.First} ({Source(0)}); B: {options.Second} ({Source(1)}); {options.Tokens} decode tokens each, {options.Rounds} prefills of {options.PromptTokens} tokens each"));
        Console.WriteLine();
        Console.WriteLine("| threads | model | kernels | decode ms/token, median | p10 | prefill tok/s, median | B ÷ A decode speed (median, p10) | B ÷ A prefill |");
        Console.WriteLine("|---:|---|---|---:|---:|---:|---:|---:|");
        foreach (int threads in options.Threads)
        {
            try
            {
                MeasureThreads(options, threads);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"interleave: cannot load a model: {e.Message}");
                return 1;
            }
        }
        return 0;
    }

    static void MeasureThreads(Options options, int threads)
    {
        using var first = EdgeModel.Load(options.First, new LoadOptions { Threads = threads, Kernel = options.Kernels[0], MemoryMap = !options.InMemory[0] });
        using var second = EdgeModel.Load(options.Second, new LoadOptions { Threads = threads, Kernel = options.Kernels[1], MemoryMap = !options.InMemory[1] });
        EdgeModel[] models = [first, second];
        for (int m = 0; m < 2; m++)
            models[m].Model.Executor.PrefetchUpcoming = !options.NoPrefetch[m];
        var states = models.Select(m => m.Model.CreateState()).ToArray();
        var logits = models.Select(m => new float[m.Config.VocabSize]).ToArray();
        int vocab = Math.Min(first.Config.VocabSize, second.Config.VocabSize);
        var random = new Random(1);
        var decodeIds = Enumerable.Range(0, options.Tokens).Select(_ => random.Next(vocab)).ToArray();
        var promptIds = Enumerable.Range(0, options.PromptTokens).Select(_ => random.Next(vocab)).ToArray();

        // Warm-up: JIT, first touch of every mapped page, worker threads started.
        for (int m = 0; m < 2; m++)
        {
            models[m].Model.Forward(promptIds.AsSpan(0, Math.Min(promptIds.Length, models[m].Model.MaxBatch)), states[m], logits[m]);
            for (int i = 0; i < Math.Min(4, decodeIds.Length); i++)
                models[m].Model.Forward(decodeIds.AsSpan(i, 1), states[m], logits[m]);
        }

        var tokenMs = new[] { new double[decodeIds.Length], new double[decodeIds.Length] };
        for (int i = 0; i < decodeIds.Length; i++)
            for (int j = 0; j < 2; j++)
            {
                int m = (i + j) % 2;
                long start = Stopwatch.GetTimestamp();
                models[m].Model.Forward(decodeIds.AsSpan(i, 1), states[m], logits[m]);
                tokenMs[m][i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        var prefill = new[] { new double[options.Rounds], new double[options.Rounds] };
        for (int r = 0; r < options.Rounds; r++)
            for (int j = 0; j < 2; j++)
            {
                int m = (r + j) % 2;
                states[m].Reset();
                long start = Stopwatch.GetTimestamp();
                models[m].Model.Forward(promptIds, states[m], logits[m]);
                prefill[m][r] = promptIds.Length / Stopwatch.GetElapsedTime(start).TotalSeconds;
            }

        for (int m = 0; m < 2; m++)
        {
            string ratios = m == 0 ? "" : Fmt($"{Quantile(tokenMs[0], 0.5) / Quantile(tokenMs[1], 0.5):F3}, {Quantile(tokenMs[0], 0.1) / Quantile(tokenMs[1], 0.1):F3}");
            string prefillRatio = m == 0 ? "" : Fmt($"{Quantile(prefill[1], 0.5) / Quantile(prefill[0], 0.5):F3}");
            Console.WriteLine(Fmt($"| {threads} | {(m == 0 ? "A" : "B")} | {models[m].Model.Executor.KernelNames} | {Quantile(tokenMs[m], 0.5):F3} | {Quantile(tokenMs[m], 0.1):F3} | {Quantile(prefill[m], 0.5):F1} | {ratios} | {prefillRatio} |"));
        }
    }

    static double Quantile(double[] values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted[(int)Math.Round(q * (sorted.Length - 1))];
    }

    static string Fmt(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
