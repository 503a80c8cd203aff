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

    public const string Usage = """
        interleave A.edge B.edge [--kernels a,b] [--no-mmap A|B|A,B] [--no-prefetch A|B|A,B] [--threads 1,2] [--tokens 400] [--prompt 256] [--rounds 6]
          Loads both models (default kernels, or kernel a for A and b for B; mapped, or read into memory as with edge's
          --no-mmap; --no-prefetch: that model's idle workers do not read ahead into the next product; to compare
          kernels, loading or prefetching, give one file twice: two copies of a file can differ by 10 % in decode
          speed, depending on where their pages lie) and, per thread count, decodes --tokens random tokens on
          each, alternating one token at a time (which model goes first alternates too), then runs --rounds prefills of
          --prompt tokens, alternating. Prints median and 10th-percentile ms per decoded token, median prefill tok/s, and B ÷ A speed.
        """;

    public static int Run(string[] args)
    {
        Options options;
        try
        {
            options = Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"interleave: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

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

    static Options Parse(string[] args)
    {
        var files = new List<string>();
        int[] threads = [1, 2];
        string?[] kernels = [null, null];
        bool[] inMemory = [false, false], noPrefetch = [false, false];
        int tokens = 400, prompt = 256, rounds = 6;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            int Positive(string name) => int.TryParse(Value(), out int n) && n >= 1 ? n : throw new ArgumentException($"{name} takes a whole number ≥ 1.");
            switch (args[i])
            {
                case "--threads":
                    threads = [.. Value().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                        .Select(t => int.TryParse(t, out int n) && n >= 1 ? n : throw new ArgumentException($"--threads takes whole numbers ≥ 1 (got \"{t}\")."))];
                    break;
                case "--kernels":
                    string[] names = Value().Split(',', StringSplitOptions.TrimEntries);
                    if (names.Length != 2 || names.Any(string.IsNullOrEmpty))
                        throw new ArgumentException("--kernels takes two kernel names, one for A and one for B (e.g. avx2,avx512).");
                    foreach (string name in names)
                        KernelFactory.Select(name); // an unknown name fails here, with the list of kernels this CPU has
                    kernels = names;
                    break;
                case "--no-mmap":
                case "--no-prefetch":
                    string option = args[i];
                    foreach (string model in Value().Split(',', StringSplitOptions.TrimEntries))
                        (option == "--no-mmap" ? inMemory : noPrefetch)[model switch
                        {
                            "A" or "a" => 0,
                            "B" or "b" => 1,
                            _ => throw new ArgumentException($"{option} takes A, B or A,B (got \"{model}\")."),
                        }] = true;
                    break;
                case "--tokens":
                    tokens = Positive("--tokens");
                    break;
                case "--prompt":
                    prompt = Positive("--prompt");
                    break;
                case "--rounds":
                    rounds = Positive("--rounds");
                    break;
                default:
                    if (args[i].StartsWith('-'))
                        throw new ArgumentException($"Unknown option {args[i]}.");
                    files.Add(args[i]);
                    break;
            }
        }
        if (files.Count != 2)
            throw new ArgumentException($"Give two model files (got {files.Count}).");
        foreach (string file in files)
            if (!File.Exists(file))
                throw new ArgumentException($"The model file {file} does not exist (create one with `edge-pack synth --preset 370m -o {file}`).");
        if (threads.Length == 0)
            throw new ArgumentException("--threads needs at least one value.");
        return new Options(files[0], files[1], kernels, inMemory, noPrefetch, threads, tokens, prompt, rounds);
    }
}
