using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Edge.Format.Container;
using Edge.Format.Numerics;
using Edge.Runtime.Kernels;

namespace Edge.Benchmarks;

/// <summary>
/// <c>peak</c>: the int8 multiply-add ceiling of this CPU as .NET can reach it, and how close the batched kernels
/// (prefill's <see cref="TernaryKernel.MatMul"/>) come to it. Prefill multiplies every ternary weight by every
/// prompt token, so MAC/s ÷ weights per token bounds prefill tok/s whatever the memory system does.
/// </summary>
/// <remarks>
/// The ceiling loops keep everything in registers: independent chains, each one <c>vpmaddubsw</c> (u8 × s8,
/// adjacent products summed into int16) and, in the second variant, one <c>vpaddw</c> into an int16 accumulator,
/// the least work per product any kernel built on <c>vpmaddubsw</c> can do. A chain feeds its accumulator back as
/// the next multiplicand, so the JIT cannot hoist the multiply out of the loop (saturation and wrap-around do not
/// matter), which makes each chain a latency chain: 24 chains (12 without AVX-512's 32 registers) are needed to
/// cover it; on Zen 4 the zmm loop gained 15 % and the ymm loop 3 % going from 12 to 24.
/// </remarks>
static class PeakMode
{
    sealed record Options(int[] Threads, string? ModelPath, IReadOnlyList<TernaryKernel> Kernels, int Tokens, IReadOnlyList<GemvShape> Shapes, double Seconds);

    /// <param name="Run">Runs the given number of loop iterations and returns a value that depends on all of them.</param>
    sealed record Variant(string Name, int MacsPerInstruction, int InstructionsPerChain, int Chains, Func<long, long> Run);

    const string Description = """
        Measures the peak int8 multiply-add rate reachable from .NET (register-only vpmaddubsw loops, ymm and zmm),
        the prefill tok/s it allows for the model's ternary weights (or per G weights without -m), and the G MAC/s
        of each kernel's batched MatMul on the MMfreeLM shapes with --tokens activation vectors (cache-resident).
        """;

    public static Command CreateCommand()
    {
        // The batched kernels worth timing against the ceiling: the SIMD ones of this CPU.
        TernaryKernel[] simd = [.. KernelFactory.Available.Where(k => k.Name is not ("scalar" or "vector128"))];
        const string defaultShapes = "370m";
        var threads = ModeCommandLine.Threads();
        var model = new Option<string?>("--model", "-m")
        {
            Description = "Model file (.edge): the bound is then prefill tok/s for its ternary weights",
            HelpName = "model.edge",
            CustomParser = result => ModeCommandLine.CheckModelExists(result, result.Tokens[0].Value) ? result.Tokens[0].Value : null,
        };
        var kernels = new Option<TernaryKernel[]>("--kernels")
        {
            Description = $"Comma-separated kernels for the batched MatMul [default: {string.Join(",", simd.Select(k => k.Name))}]",
            HelpName = "k1,k2",
            Arity = ArgumentArity.ExactlyOne,
            CustomParser = result => ModeCommandLine.ParseList(result, "--kernels", KernelFactory.Select),
        };
        var tokens = ModeCommandLine.WholeNumber("--tokens", 64, "Activation vectors per batched MatMul");
        var shapes = ModeCommandLine.Shapes(defaultShapes, withNone: true);
        var seconds = ModeCommandLine.PositiveNumber("--seconds", 0.3, "Seconds per timed pass");

        var command = new Command("peak", Description) { threads, model, kernels, tokens, shapes, seconds };
        command.SetAction(parse => Run(new Options(
            parse.ValueOr(threads, ModeCommandLine.DefaultThreads), parse.GetValue(model), parse.ValueOr(kernels, simd), parse.GetValue(tokens),
            parse.ValueOr(shapes, ModeCommandLine.ShapesNamed(defaultShapes)), parse.GetValue(seconds))));
        return command;
    }

    static int Run(Options options)
    {
        long? weightsPerToken = null;
        if (options.ModelPath is { } path)
        {
            try
            {
                weightsPerToken = PrefillWeightsPerToken(path);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"peak: cannot read the model {path}: {e.Message}");
                return 1;
            }
        }

        var variants = Variants();
        Console.WriteLine("# Int8 multiply-add ceiling and batched-kernel rates");
        Console.WriteLine();
        Console.WriteLine($"- cpu: {RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical cores; .NET {Environment.Version}; AVX2 {Avx2.IsSupported}, AVX-512BW {Avx512BW.IsSupported}, AVX-VNNI {AvxVnni.IsSupported}");
        Console.WriteLine("- 1 MAC = one int8 × int8 product added into a sum (for ternary weights: one weight × one token).");
        Console.WriteLine($"- MACs per instruction assumed: vpmaddubsw ymm = 32 (16 int16 lanes × 2 products), zmm = 64; vpaddw counts 0. {string.Join(", ", variants.Select(v => $"{v.Name[..3]} {v.Chains}").Distinct())} independent chains per thread, best of 5 timed passes of ≈{options.Seconds} s, all threads running at once.");
        Console.WriteLine();
        if (variants.Count == 0)
        {
            Console.WriteLine("This CPU has no AVX2: no ceiling to measure.");
            return 0;
        }

        Console.WriteLine("| loop | MACs/instr | threads | G instr/s | **G MAC/s** | MAC/cycle/thread at the vpaddw-chain clock | prefill tok/s bound |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        var ceiling = new Dictionary<int, double>();
        foreach (int threads in options.Threads)
        {
            double hz = Measure(ClockChain, options.Seconds, threads) / threads;
            foreach (var v in variants)
            {
                double stepsPerSecond = Measure(v.Run, options.Seconds, threads);
                double macs = stepsPerSecond * v.Chains * v.MacsPerInstruction;
                double instructions = stepsPerSecond * v.Chains * v.InstructionsPerChain;
                if (v.InstructionsPerChain == 2)
                    ceiling[threads] = Math.Max(ceiling.GetValueOrDefault(threads), macs);
                string bound = weightsPerToken is long w
                    ? Fmt($"{macs / w:F0} tok/s")
                    : Fmt($"{macs / 1e9:F0} tok/s per G weights");
                Console.WriteLine(Fmt($"| {v.Name} | {v.MacsPerInstruction} | {threads} | {instructions / 1e9:F1} | **{macs / 1e9:F1}** | {macs / threads / hz:F1} | {bound} |"));
            }
            Console.WriteLine(Fmt($"| (clock: 1-cycle vpaddw chain) | – | {threads} | {hz / 1e9:F2} GHz per thread | | | |"));
        }
        Console.WriteLine();
        if (weightsPerToken is long perToken)
            Console.WriteLine(Fmt($"Model {options.ModelPath}: {perToken:N0} ternary weights per prompt token (every ternary matrix except lm_head, which prefill runs once; columns padded to 256). The bound is G MAC/s ÷ that, with nothing else in the forward pass costing time."));
        else
            Console.WriteLine("Without -m the bound is per G ternary weights per token: divide by the model's weights per token in G (MMfreeLM-370M ≈ 0.31, -2.7B ≈ 2.6).");
        Console.WriteLine("`vpmaddubsw + vpaddw` is the ceiling for a kernel built on vpmaddubsw: it still has to unpack codes, load activations and widen the int16 sums on top.");
        Console.WriteLine();

        if (options.Kernels.Count > 0 && options.Shapes.Count > 0)
            MeasureKernels(options, ceiling);
        return 0;
    }

    static string Fmt(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Σ rows × padded columns of every ternary matrix a prompt token passes through.</summary>
    static long PrefillWeightsPerToken(string path)
    {
        using var file = ModelFile.Open(path);
        return file.Tensors
            .Where(t => TensorTypes.IsTernary(t.Type) && !t.Name.StartsWith("lm_head", StringComparison.Ordinal))
            .Sum(t => t.Shape[0] * TernaryPacking.PaddedLength((int)t.Shape[1]));
    }

    static List<Variant> Variants()
    {
        var list = new List<Variant>();
        // 24 chains need 25 registers: only CPUs with AVX-512 (32 vector registers) get them without spills.
        if (Avx2.IsSupported && Avx512F.VL.IsSupported)
        {
            list.Add(new("ymm vpmaddubsw alone", 32, 1, 24, Chains24<Vector256<short>, YmmMadd>));
            list.Add(new("ymm vpmaddubsw + vpaddw", 32, 2, 24, Chains24<Vector256<short>, YmmMaddAdd>));
        }
        else if (Avx2.IsSupported)
        {
            list.Add(new("ymm vpmaddubsw alone", 32, 1, 12, Chains12<Vector256<short>, YmmMadd>));
            list.Add(new("ymm vpmaddubsw + vpaddw", 32, 2, 12, Chains12<Vector256<short>, YmmMaddAdd>));
        }
        if (Avx512BW.IsSupported)
        {
            list.Add(new("zmm vpmaddubsw alone", 64, 1, 24, Chains24<Vector512<short>, ZmmMadd>));
            list.Add(new("zmm vpmaddubsw + vpaddw", 64, 2, 24, Chains24<Vector512<short>, ZmmMaddAdd>));
        }
        return list;
    }

    /// <summary>Chain steps per second of <paramref name="loop"/> summed over threads: the best of 5 passes.</summary>
    static double Measure(Func<long, long> loop, double seconds, int threads)
    {
        loop(10_000);
        long start = Stopwatch.GetTimestamp();
        loop(1_000_000);
        double perStep = Stopwatch.GetElapsedTime(start).TotalSeconds / 1_000_000;
        long steps = Math.Max(1_000_000, (long)(seconds / perStep));
        double best = 0;
        for (int pass = 0; pass < 5; pass++)
        {
            using var go = new ManualResetEventSlim(false);
            using var ready = new CountdownEvent(threads);
            var workers = new Thread[threads];
            long sink = 0;
            for (int t = 0; t < threads; t++)
            {
                workers[t] = new Thread(() =>
                {
                    ready.Signal();
                    go.Wait();
                    Interlocked.Add(ref sink, loop(steps));
                });
                workers[t].Start();
            }
            ready.Wait();
            start = Stopwatch.GetTimestamp();
            go.Set();
            foreach (var w in workers)
                w.Join();
            double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            GC.KeepAlive(sink);
            best = Math.Max(best, threads * steps / elapsed);
        }
        return best;
    }

    /// <summary>A single chain of dependent 1-cycle vector adds: steps per second ≈ the core clock.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static long ClockChain(long steps)
    {
        var one = Vector256.Create((short)1);
        var a = Vector256.Create((short)steps);
        for (long i = 0; i < steps; i += 8)
        {
            a += one;
            a ^= one;
            a += one;
            a ^= one;
            a += one;
            a ^= one;
            a += one;
            a ^= one;
        }
        return a.ToScalar();
    }

    /// <summary>One step of a ceiling chain on one vector type: the instructions being measured.</summary>
    /// <remarks>Static abstract members on structs: the JIT compiles the chain loops once per step type, inlined.</remarks>
    interface IChainStep<TVector> where TVector : struct
    {
        static abstract TVector Seed(int chain);
        static abstract TVector Multiplier(long steps);
        static abstract TVector Step(TVector accumulator, TVector multiplier);
        static abstract TVector Xor(TVector a, TVector b);
        static abstract long ToScalar(TVector a);
    }

    readonly struct YmmMadd : IChainStep<Vector256<short>>
    {
        public static Vector256<short> Seed(int chain) => Vector256.Create((short)chain);
        public static Vector256<short> Multiplier(long steps) => Vector256.Create((sbyte)(steps | 1)).AsInt16();
        public static Vector256<short> Step(Vector256<short> a, Vector256<short> x) => Avx2.MultiplyAddAdjacent(a.AsByte(), x.AsSByte());
        public static Vector256<short> Xor(Vector256<short> a, Vector256<short> b) => a ^ b;
        public static long ToScalar(Vector256<short> a) => a.ToScalar();
    }

    readonly struct YmmMaddAdd : IChainStep<Vector256<short>>
    {
        public static Vector256<short> Seed(int chain) => YmmMadd.Seed(chain);
        public static Vector256<short> Multiplier(long steps) => YmmMadd.Multiplier(steps);
        public static Vector256<short> Step(Vector256<short> a, Vector256<short> x) => a + Avx2.MultiplyAddAdjacent(a.AsByte(), x.AsSByte());
        public static Vector256<short> Xor(Vector256<short> a, Vector256<short> b) => a ^ b;
        public static long ToScalar(Vector256<short> a) => a.ToScalar();
    }

    readonly struct ZmmMadd : IChainStep<Vector512<short>>
    {
        public static Vector512<short> Seed(int chain) => Vector512.Create((short)chain);
        public static Vector512<short> Multiplier(long steps) => Vector512.Create((sbyte)(steps | 1)).AsInt16();
        public static Vector512<short> Step(Vector512<short> a, Vector512<short> x) => Avx512BW.MultiplyAddAdjacent(a.AsByte(), x.AsSByte());
        public static Vector512<short> Xor(Vector512<short> a, Vector512<short> b) => a ^ b;
        public static long ToScalar(Vector512<short> a) => a.ToScalar();
    }

    readonly struct ZmmMaddAdd : IChainStep<Vector512<short>>
    {
        public static Vector512<short> Seed(int chain) => ZmmMadd.Seed(chain);
        public static Vector512<short> Multiplier(long steps) => ZmmMadd.Multiplier(steps);
        public static Vector512<short> Step(Vector512<short> a, Vector512<short> x) => a + Avx512BW.MultiplyAddAdjacent(a.AsByte(), x.AsSByte());
        public static Vector512<short> Xor(Vector512<short> a, Vector512<short> b) => a ^ b;
        public static long ToScalar(Vector512<short> a) => a.ToScalar();
    }

    /// <summary>12 independent chains (for CPUs with 16 vector registers).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static long Chains12<TVector, TStep>(long steps) where TVector : struct where TStep : IChainStep<TVector>
    {
        var x = TStep.Multiplier(steps);
        TVector a0 = TStep.Seed(0), a1 = TStep.Seed(1), a2 = TStep.Seed(2), a3 = TStep.Seed(3), a4 = TStep.Seed(4), a5 = TStep.Seed(5);
        TVector a6 = TStep.Seed(6), a7 = TStep.Seed(7), a8 = TStep.Seed(8), a9 = TStep.Seed(9), a10 = TStep.Seed(10), a11 = TStep.Seed(11);
        for (long i = 0; i < steps; i++)
        {
            a0 = TStep.Step(a0, x); a1 = TStep.Step(a1, x); a2 = TStep.Step(a2, x); a3 = TStep.Step(a3, x);
            a4 = TStep.Step(a4, x); a5 = TStep.Step(a5, x); a6 = TStep.Step(a6, x); a7 = TStep.Step(a7, x);
            a8 = TStep.Step(a8, x); a9 = TStep.Step(a9, x); a10 = TStep.Step(a10, x); a11 = TStep.Step(a11, x);
        }
        var all = TStep.Xor(TStep.Xor(TStep.Xor(a0, a1), TStep.Xor(a2, a3)), TStep.Xor(TStep.Xor(a4, a5), TStep.Xor(a6, a7)));
        return TStep.ToScalar(TStep.Xor(all, TStep.Xor(TStep.Xor(a8, a9), TStep.Xor(a10, a11))));
    }

    /// <summary>24 independent chains (for CPUs with 32 vector registers).</summary>
    /// <remarks>
    /// Chains12's lines twice over, in one loop: not two calls of it nor an array of accumulators, which would leave
    /// 12 chains in flight or put them in memory; each chain must be a register of its own.
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static long Chains24<TVector, TStep>(long steps) where TVector : struct where TStep : IChainStep<TVector>
    {
        var x = TStep.Multiplier(steps);
        TVector a0 = TStep.Seed(0), a1 = TStep.Seed(1), a2 = TStep.Seed(2), a3 = TStep.Seed(3), a4 = TStep.Seed(4), a5 = TStep.Seed(5);
        TVector a6 = TStep.Seed(6), a7 = TStep.Seed(7), a8 = TStep.Seed(8), a9 = TStep.Seed(9), a10 = TStep.Seed(10), a11 = TStep.Seed(11);
        TVector b0 = TStep.Seed(12), b1 = TStep.Seed(13), b2 = TStep.Seed(14), b3 = TStep.Seed(15), b4 = TStep.Seed(16), b5 = TStep.Seed(17);
        TVector b6 = TStep.Seed(18), b7 = TStep.Seed(19), b8 = TStep.Seed(20), b9 = TStep.Seed(21), b10 = TStep.Seed(22), b11 = TStep.Seed(23);
        for (long i = 0; i < steps; i++)
        {
            a0 = TStep.Step(a0, x); a1 = TStep.Step(a1, x); a2 = TStep.Step(a2, x); a3 = TStep.Step(a3, x);
            a4 = TStep.Step(a4, x); a5 = TStep.Step(a5, x); a6 = TStep.Step(a6, x); a7 = TStep.Step(a7, x);
            a8 = TStep.Step(a8, x); a9 = TStep.Step(a9, x); a10 = TStep.Step(a10, x); a11 = TStep.Step(a11, x);
            b0 = TStep.Step(b0, x); b1 = TStep.Step(b1, x); b2 = TStep.Step(b2, x); b3 = TStep.Step(b3, x);
            b4 = TStep.Step(b4, x); b5 = TStep.Step(b5, x); b6 = TStep.Step(b6, x); b7 = TStep.Step(b7, x);
            b8 = TStep.Step(b8, x); b9 = TStep.Step(b9, x); b10 = TStep.Step(b10, x); b11 = TStep.Step(b11, x);
        }
        var a = TStep.Xor(TStep.Xor(TStep.Xor(a0, a1), TStep.Xor(a2, a3)), TStep.Xor(TStep.Xor(a4, a5), TStep.Xor(a6, a7)));
        a = TStep.Xor(a, TStep.Xor(TStep.Xor(a8, a9), TStep.Xor(a10, a11)));
        var b = TStep.Xor(TStep.Xor(TStep.Xor(b0, b1), TStep.Xor(b2, b3)), TStep.Xor(TStep.Xor(b4, b5), TStep.Xor(b6, b7)));
        b = TStep.Xor(b, TStep.Xor(TStep.Xor(b8, b9), TStep.Xor(b10, b11)));
        return TStep.ToScalar(TStep.Xor(a, b));
    }

    /// <summary>
    /// Every kernel's <see cref="TernaryExecutor.MatMul"/> on each shape with <see cref="Options.Tokens"/> activation
    /// vectors, one hot matrix (as prefill sees a layer: read once per batch, then cache-resident), calls alternating
    /// between kernels; the 10th-percentile call.
    /// </summary>
    static void MeasureKernels(Options options, Dictionary<int, double> ceiling)
    {
        Console.WriteLine(Fmt($"## Batched MatMul, {options.Tokens} tokens, hot matrix (10th-percentile call; % of the vpmaddubsw + vpaddw ceiling above)"));
        Console.WriteLine();
        Console.WriteLine("| shape | kernel | threads | µs per call | **G MAC/s** | of ceiling |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|");
        foreach (var shape in options.Shapes)
        {
            using var matrices = new EdgeMatrixSet(shape, CacheMode.Hot);
            var w = matrices[0];
            int k = w.PaddedColumns;
            var x = new sbyte[(long)options.Tokens * k];
            var sums = new int[options.Tokens];
            var random = new Random(shape.K * 31 + shape.N);
            for (int b = 0; b < options.Tokens; b++)
                for (int i = 0; i < shape.K; i++)
                {
                    sbyte v = (sbyte)random.Next(-128, 128);
                    x[b * k + i] = v;
                    sums[b] += v;
                }
            var y = new int[(long)options.Tokens * shape.N];
            long macs = (long)shape.N * k * options.Tokens;
            foreach (int threads in options.Threads)
            {
                var executors = options.Kernels.Select(kernel => new TernaryExecutor(kernel, threads)).ToArray();
                try
                {
                    foreach (var e in executors)
                        WarmUp(e, w, x, sums, options.Tokens, y);
                    var samples = executors.Select(_ => new List<double>()).ToArray();
                    int calls = Math.Max(3, (int)(options.Seconds / 10 / Math.Max(1e-6, TimeOne(executors[0], w, x, sums, options.Tokens, y))));
                    for (int rep = 0; rep < 10; rep++)
                        for (int e = 0; e < executors.Length; e++)
                            for (int c = 0; c < calls; c++)
                                samples[e].Add(TimeOne(executors[e], w, x, sums, options.Tokens, y));
                    for (int e = 0; e < executors.Length; e++)
                    {
                        var sorted = samples[e].Order().ToArray();
                        double seconds = sorted[(int)Math.Round(0.1 * (sorted.Length - 1))];
                        double rate = macs / seconds;
                        string share = ceiling.TryGetValue(threads, out double c) ? Fmt($"{rate / c:P0}") : "–";
                        Console.WriteLine(Fmt($"| {shape.Model} {shape.Role} {shape.K}x{shape.N} | {executors[e].Kernel.Name} | {threads} | {seconds * 1e6:F0} | **{rate / 1e9:F1}** | {share} |"));
                    }
                }
                finally
                {
                    foreach (var e in executors)
                        e.Dispose();
                }
            }
        }
        Console.WriteLine();
    }

    /// <summary>Enough calls for tiered compilation to have installed the optimized kernel before anything is timed.</summary>
    static void WarmUp(TernaryExecutor executor, TernaryMatrix w, sbyte[] x, int[] sums, int n, int[] y)
    {
        long start = Stopwatch.GetTimestamp();
        for (int call = 0; call < 60 || Stopwatch.GetElapsedTime(start).TotalSeconds < 0.5; call++)
            TimeOne(executor, w, x, sums, n, y);
    }

    static double TimeOne(TernaryExecutor executor, TernaryMatrix w, sbyte[] x, int[] sums, int n, int[] y)
    {
        long start = Stopwatch.GetTimestamp();
        executor.MatMul(w, x, sums, n, y);
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}
