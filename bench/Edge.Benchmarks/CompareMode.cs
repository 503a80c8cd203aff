using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Edge.Benchmarks.Ggml;
using Edge.Format.Container;
using Edge.Runtime.Diagnostics;
using Edge.Runtime.Kernels;

namespace Edge.Benchmarks;

/// <summary>
/// <c>compare</c>: a quick, reproducible side-by-side of every Edge kernel and ggml's TQ2_0 / TQ1_0 on the MMfreeLM
/// GEMV shapes, in one process. Engines are timed in alternation (each repetition runs every engine once, in a
/// rotating order), so a noisy neighbour slows all of them alike and the ratios stay meaningful.
/// </summary>
static class CompareMode
{
    sealed record Options(IReadOnlyList<GemvShape> Shapes, int[] Threads, CacheMode[] Modes, IReadOnlyList<TernaryKernel> Kernels, int Repetitions, double BatchMs, MatrixPages Pages);

    /// <param name="Seconds">10th percentile of the per-call times: the calls other tenants of a shared machine disturbed least.</param>
    /// <param name="MedianSeconds">Median of the per-call times.</param>
    sealed record Measurement(string Engine, GemvShape Shape, CacheMode Mode, int Threads, double Seconds, double MedianSeconds, long MatrixBytes)
    {
        public double WeightsPerSecond => Shape.Weights / Seconds;
    }

    const string Description = """
        Times every Edge kernel and ggml TQ2_0/TQ1_0 on the MMfreeLM GEMV shapes and prints markdown tables:
        µs per GEMV, G weights/s and GB/s of packed weights, then Edge ÷ ggml speed ratios per shape and thread count.
        The 1.6-bit kernel (1.6bit-vbmi, where the CPU has AVX-512 VBMI) multiplies the same weights packed five per
        byte; its sums are checked to equal the first 2-bit kernel's. A read-only pass per layout (the same bytes
        through the same executor, nothing computed) gives the memory bound each kernel is compared with at the end.
        Every engine's matrices lie in huge pages, as Edge's weights do by default, or with --pages small in 4 KiB pages.
        """;

    public static Command CreateCommand()
    {
        // Every 2-bit kernel, and the 1.6-bit one where the CPU has it.
        TernaryKernel[] available = [.. KernelFactory.Available, .. FiveTritVbmiKernel.IsSupported ? [new FiveTritVbmiKernel()] : Array.Empty<TernaryKernel>()];
        const string defaultShapes = "all";
        CacheMode[] defaultModes = [CacheMode.Cold, CacheMode.Hot];
        var shapes = ModeCommandLine.Shapes(defaultShapes, withNone: false);
        var threads = ModeCommandLine.Threads();
        var modes = new Option<CacheMode[]>("--modes")
        {
            Description = $"Comma-separated: cold (matrices from DRAM) and/or hot (one matrix in cache) [default: {string.Join(",", defaultModes).ToLowerInvariant()}]",
            HelpName = "cold,hot",
            Arity = ArgumentArity.ExactlyOne,
            CustomParser = result => ModeCommandLine.ParseList(result, "--modes",
                m => Enum.TryParse<CacheMode>(m, ignoreCase: true, out var mode) ? mode : throw new ArgumentException($"--modes takes cold and/or hot (got \"{m}\").")),
        };
        var kernels = new Option<TernaryKernel[]>("--kernels")
        {
            Description = $"Comma-separated Edge kernels [default: all available here, {string.Join(",", available.Select(k => k.Name))}]",
            HelpName = "k1,k2",
            Arity = ArgumentArity.ExactlyOne,
            CustomParser = result => ModeCommandLine.ParseList(result, "--kernels", name => available.FirstOrDefault(k => k.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"--kernels: \"{name}\" is not available here ({string.Join(", ", available.Select(k => k.Name))}).")),
        };
        var repetitions = ModeCommandLine.WholeNumber("--repetitions", 15, "Timed batches per engine, engines alternating");
        var batchMs = ModeCommandLine.PositiveNumber("--batch-ms", 5, "Milliseconds of calls per batch");
        var pages = new Option<MatrixPages>("--pages")
        {
            Description = "Pages the matrices lie in: huge or small (4 KiB)",
            HelpName = "huge|small",
            DefaultValueFactory = _ => MatrixPages.Huge,
            CustomParser = result => ModeCommandLine.ParseOrReport(result, () =>
            {
                string p = result.Tokens[0].Value;
                return Enum.TryParse(p, ignoreCase: true, out MatrixPages parsed) && !int.TryParse(p, out _) ? parsed : throw new ArgumentException($"--pages takes huge or small (got \"{p}\").");
            }),
        };

        var command = new Command("compare", Description) { shapes, threads, modes, kernels, repetitions, batchMs, pages };
        command.SetAction(parse => Run(new Options(
            parse.ValueOr(shapes, ModeCommandLine.ShapesNamed(defaultShapes)), parse.ValueOr(threads, ModeCommandLine.DefaultThreads),
            parse.ValueOr(modes, defaultModes), parse.ValueOr(kernels, available),
            parse.GetValue(repetitions), parse.GetValue(batchMs), parse.GetValue(pages))));
        return command;
    }

    static int Run(Options options)
    {
        string ggml = GgmlNative.EnsureLoaded();
        Console.WriteLine("# Ternary GEMV: Edge vs ggml, one process, interleaved repetitions");
        Console.WriteLine();
        Console.WriteLine($"- cpu: {RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical cores; .NET {Environment.Version}; {ggml}");
        Console.WriteLine($"- Edge kernels: {string.Join(", ", options.Kernels.Select(k => k.Name))}; ggml: tq2_0, tq1_0 (float input, quantized to Q8_K inside each call)");
        Console.WriteLine($"- {options.Repetitions} repetitions of ≈{options.BatchMs} ms per engine, engines alternating, each batch after a {SettlePause.TotalMilliseconds:0} ms pause (so the last engine's threads have stopped spinning) and {SettleCalls.TotalMilliseconds:0} ms of untimed calls; every call timed, cells show the 10th-percentile call (µs · G weights/s · GB/s of packed weights)");
        Console.WriteLine($"- cold = cycling through ≥{GemvShape.ColdWorkingSetBytes >> 20} MiB of distinct matrices (DRAM), hot = one matrix again and again (cache)");
        Console.WriteLine(options.Pages == MatrixPages.Huge
            ? $"- matrices and the bandwidth buffer in {HugePages.Size >> 20} MiB pages where the kernel allows (transparent huge pages: {HugePages.SystemMode ?? "none"})"
            : $"- matrices in 4 KiB pages (--pages small; transparent huge pages: {HugePages.SystemMode ?? "none"}); the bandwidth buffer in {HugePages.Size >> 20} MiB pages");
        foreach (int t in options.Threads)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"- read bandwidth, {t} thread(s): {ReadBandwidth.Measure(t) / 1e9:F1} GB/s (best 64 MiB-per-thread pass over a 1 GiB buffer)"));
        Console.WriteLine();

        var all = new List<Measurement>();
        foreach (var shape in options.Shapes)
        {
            var results = new List<Measurement>();
            foreach (var mode in options.Modes)
                results.AddRange(MeasureShape(shape, mode, options));
            PrintShape(shape, options, results);
            all.AddRange(results);
        }
        PrintRatios(options, all);
        PrintMemoryBound(options, all);
        return 0;
    }

    static List<Measurement> MeasureShape(GemvShape shape, CacheMode mode, Options options)
    {
        using var edgeMatrices = new EdgeMatrixSet(shape, mode, pages: options.Pages);
        using var fiveTritMatrices = options.Kernels.Any(k => k.Layout == TensorType.TernaryFiveTrit) ? new EdgeMatrixSet(shape, mode, TensorType.TernaryFiveTrit, options.Pages) : null;
        var engines = new List<GemvEngine>();
        try
        {
            foreach (var kernel in options.Kernels)
                engines.Add(new EdgeGemvEngine(kernel, kernel.Layout == TensorType.TernaryFiveTrit ? fiveTritMatrices! : edgeMatrices, mode));
            CheckLayoutsAgree(engines);
            foreach (var layout in options.Kernels.Select(k => k.Layout).Distinct())
                engines.Add(new EdgeGemvEngine(new ReadOnlyKernel(layout), layout == TensorType.TernaryFiveTrit ? fiveTritMatrices! : edgeMatrices, mode));
            engines.Add(new GgmlGemvEngine(GgmlNative.TypeTq2_0, shape, mode, options.Pages));
            engines.Add(new GgmlGemvEngine(GgmlNative.TypeTq1_0, shape, mode, options.Pages));
            CheckAgreement(engines);

            var results = new List<Measurement>();
            foreach (int threads in options.Threads)
            {
                var batch = new int[engines.Count];
                for (int e = 0; e < engines.Count; e++)
                {
                    engines[e].SetThreads(threads);
                    Settle(engines[e]);
                    batch[e] = Calibrate(engines[e], options.BatchMs);
                }
                // Every call is timed on its own: on a machine shared with other work, a batch average would mostly
                // measure the scheduler, while the fast end of the per-call distribution is the code's own speed.
                var samples = engines.Select((_, e) => new List<double>(options.Repetitions * batch[e])).ToArray();
                for (int rep = 0; rep < options.Repetitions; rep++)
                    for (int i = 0; i < engines.Count; i++)
                    {
                        int e = (i + rep) % engines.Count;
                        Settle(engines[e]);
                        for (int call = 0; call < batch[e]; call++)
                        {
                            long start = Stopwatch.GetTimestamp();
                            engines[e].Run();
                            samples[e].Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
                        }
                    }
                for (int e = 0; e < engines.Count; e++)
                    results.Add(new Measurement(engines[e].Name, shape, mode, threads, Percentile(samples[e], 0.1), Percentile(samples[e], 0.5), engines[e].MatrixBytes));
            }
            return results;
        }
        finally
        {
            foreach (var e in engines)
                e.Dispose();
        }
    }

    /// <summary>
    /// Readies <paramref name="engine"/> for a timed batch. First a pause, in which the threads the engine before it
    /// left spinning go to sleep: ggml's CPU backend runs on libgomp, whose threads spin about 7 ms after each product
    /// on this machine, Edge's workers 200 µs. Without it, a 2-thread batch that followed ggml's shared its second core
    /// with ggml's spinning thread for the whole batch (5 ms), and the 1024×1024 product ran at one thread's speed
    /// (docs/PERFORMANCE.md, "How to measure"). Then untimed calls, which wake this engine's own threads and the cores they run on:
    /// after a pause alone, the median call was slower.
    /// </summary>
    static void Settle(GemvEngine engine)
    {
        Thread.Sleep(SettlePause);
        RunFor(engine, SettleCalls);
    }

    static readonly TimeSpan SettlePause = TimeSpan.FromMilliseconds(10), SettleCalls = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// Picks an engine's calls per batch from calls timed for one batch's time, after <see cref="Settle"/> has woken
    /// its threads (every matrix was already paged in when it was written). Timing the first calls at a new thread
    /// count, which start the engine's threads, made the batches of microsecond products a few calls long.
    /// </summary>
    static int Calibrate(GemvEngine engine, double batchMs)
    {
        long start = Stopwatch.GetTimestamp();
        int calls = RunFor(engine, TimeSpan.FromMilliseconds(batchMs));
        double perCall = Stopwatch.GetElapsedTime(start).TotalMilliseconds / calls;
        return (int)Math.Clamp(batchMs / perCall, 1, 1_000_000);
    }

    /// <summary>Calls the engine until <paramref name="time"/> has passed (at least once); returns the calls.</summary>
    static int RunFor(GemvEngine engine, TimeSpan time)
    {
        long start = Stopwatch.GetTimestamp();
        int calls = 0;
        do
        {
            engine.Run();
            calls++;
        }
        while (Stopwatch.GetElapsedTime(start) < time);
        return calls;
    }

    /// <summary>All engines multiply the same matrix and input; a large disagreement means a broken binding or kernel.</summary>
    static void CheckAgreement(List<GemvEngine> engines)
    {
        const int outputs = 64;
        var reference = engines[0].Result(outputs);
        float scale = reference.Max(MathF.Abs);
        foreach (var e in engines.Skip(1).Where(e => e is not EdgeGemvEngine { Kernel: ReadOnlyKernel }))
        {
            var other = e.Result(outputs);
            double worst = reference.Zip(other, (a, b) => Math.Abs(a - b)).Max() / Math.Max(scale, 1e-6f);
            // Edge uses one activation scale per vector, ggml one per 256 values (Q8_K): small differences are expected.
            if (worst > 0.05)
                throw new InvalidOperationException($"{e.Name} disagrees with {engines[0].Name} on {e.Shape}: max |Δ| is {worst:P1} of max |y|.");
        }
    }

    /// <summary>The 1.6-bit kernel multiplies the same weights in another layout: every row's sum must equal the 2-bit kernel's.</summary>
    static void CheckLayoutsAgree(List<GemvEngine> engines)
    {
        var edge = engines.OfType<EdgeGemvEngine>().ToList();
        if (edge.FirstOrDefault(e => e.Kernel.Layout == TensorType.Ternary2) is not { } twoBit)
            return;
        var expected = twoBit.Result(twoBit.Shape.N);
        foreach (var other in edge.Where(e => e.Kernel.Layout != TensorType.Ternary2))
            if (!other.Result(twoBit.Shape.N).SequenceEqual(expected))
                throw new InvalidOperationException($"{other.Name} differs from {twoBit.Name} on {twoBit.Shape}: the 1.6-bit packing or kernel is broken.");
    }

    static void PrintShape(GemvShape shape, Options options, List<Measurement> results)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"## {shape.Model} {shape.Role}: K={shape.K}, N={shape.N} ({shape.Weights / 1e6:F2} M weights)"));
        Console.WriteLine();
        var columns = options.Modes.SelectMany(m => options.Threads.Select(t => (Mode: m, Threads: t))).ToArray();
        Console.WriteLine("| engine | bytes/weight | " + string.Join(" | ", columns.Select(c => $"{c.Threads}T {c.Mode.ToString().ToLowerInvariant()}")) + " |");
        Console.WriteLine("|---|---|" + string.Concat(columns.Select(_ => "---|")));
        foreach (string engine in results.Select(r => r.Engine).Distinct())
        {
            var first = results.First(r => r.Engine == engine);
            var cells = columns.Select(c => results.Single(r => r.Engine == engine && r.Mode == c.Mode && r.Threads == c.Threads))
                .Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Seconds * 1e6:F1} µs · **{r.WeightsPerSecond / 1e9:F1}** Gw/s · {r.MatrixBytes / r.Seconds / 1e9:F1} GB/s"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {engine} | {(double)first.MatrixBytes / shape.Weights:F4} | {string.Join(" | ", cells)} |"));
        }
        Console.WriteLine();
    }

    static void PrintRatios(Options options, List<Measurement> all)
    {
        Console.WriteLine("## Edge ÷ ggml (speed ratio from the same run; > 1 means Edge is faster)");
        Console.WriteLine();
        Console.WriteLine("Ratios of the 10th-percentile call times; in parentheses, of the medians.");
        Console.WriteLine();
        Console.WriteLine("| shape | threads | mode | Edge kernel | Edge Gw/s | ggml tq2_0 Gw/s | ggml tq1_0 Gw/s | Edge ÷ tq2_0 | Edge ÷ tq1_0 |");
        Console.WriteLine("|---|---:|---|---|---:|---:|---:|---:|---:|");
        foreach (var group in all.GroupBy(m => (m.Shape, m.Threads, m.Mode)).OrderBy(g => options.Shapes.ToList().IndexOf(g.Key.Shape)).ThenBy(g => g.Key.Threads).ThenBy(g => g.Key.Mode))
        {
            var tq2 = group.Single(m => m.Engine == "ggml tq2_0");
            var tq1 = group.Single(m => m.Engine == "ggml tq1_0");
            foreach (var edge in group.Where(m => m.Engine.StartsWith("edge ", StringComparison.Ordinal) && !m.Engine.StartsWith($"edge {ReadOnlyKernel.NamePrefix}", StringComparison.Ordinal)))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {group.Key.Shape.Model} {group.Key.Shape.K}x{group.Key.Shape.N} | {group.Key.Threads} | {group.Key.Mode.ToString().ToLowerInvariant()} | {edge.Engine[5..]} | {edge.WeightsPerSecond / 1e9:F1} | {tq2.WeightsPerSecond / 1e9:F1} | {tq1.WeightsPerSecond / 1e9:F1} | {tq2.Seconds / edge.Seconds:F2} ({tq2.MedianSeconds / edge.MedianSeconds:F2}) | {tq1.Seconds / edge.Seconds:F2} ({tq1.MedianSeconds / edge.MedianSeconds:F2}) |"));
        }
    }

    /// <summary>Each kernel's speed as a fraction of the read-only pass over the same matrices in the same run.</summary>
    static void PrintMemoryBound(Options options, List<Measurement> all)
    {
        Console.WriteLine();
        Console.WriteLine("## Edge ÷ the memory bound (same run)");
        Console.WriteLine();
        Console.WriteLine("The read-only pass reads the same packed bytes through the same executor and computes nothing, so a kernel at");
        Console.WriteLine("1.00 is as fast as its memory access allows. Ratios of the 10th-percentile call times; in parentheses, of the medians.");
        Console.WriteLine();
        Console.WriteLine("| shape | threads | mode | Edge kernel | Edge GB/s | read-only GB/s | Edge ÷ read-only |");
        Console.WriteLine("|---|---:|---|---|---:|---:|---:|");
        foreach (var group in all.GroupBy(m => (m.Shape, m.Threads, m.Mode)).OrderBy(g => options.Shapes.ToList().IndexOf(g.Key.Shape)).ThenBy(g => g.Key.Threads).ThenBy(g => g.Key.Mode))
            foreach (var kernel in options.Kernels)
            {
                var edge = group.Single(m => m.Engine == $"edge {kernel.Name}");
                var bound = group.Single(m => m.Engine == $"edge {ReadOnlyKernel.NameFor(kernel.Layout)}");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {group.Key.Shape.Model} {group.Key.Shape.K}x{group.Key.Shape.N} | {group.Key.Threads} | {group.Key.Mode.ToString().ToLowerInvariant()} | {kernel.Name} | {edge.MatrixBytes / edge.Seconds / 1e9:F1} | {bound.MatrixBytes / bound.Seconds / 1e9:F1} | {bound.Seconds / edge.Seconds:F2} ({bound.MedianSeconds / edge.MedianSeconds:F2}) |"));
            }
    }

    static double Percentile(List<double> values, double fraction)
    {
        var sorted = values.Order().ToArray();
        return sorted[(int)Math.Round(fraction * (sorted.Length - 1))];
    }
}
