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

    public const string Usage = """
        peak [--threads 1,2] [-m model.edge] [--kernels avx2,avx512] [--tokens 64] [--shapes 370m|2.7b|all|none] [--seconds 0.3]
          Measures the peak int8 multiply-add rate reachable from .NET (register-only vpmaddubsw loops, ymm and zmm),
          the prefill tok/s it allows for the model's ternary weights (or per G weights without -m), and the G MAC/s
          of each kernel's batched MatMul on the MMfreeLM shapes with --tokens activation vectors (cache-resident).
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
            Console.Error.WriteLine($"peak: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

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
            .Where(t => t.Type == TensorType.Ternary2 && !t.Name.StartsWith("lm_head", StringComparison.Ordinal))
            .Sum(t => t.Shape[0] * TernaryPacking.PaddedLength((int)t.Shape[1]));
    }

    static List<Variant> Variants()
    {
        var list = new List<Variant>();
        // 24 chains need 25 registers: only CPUs with AVX-512 (32 vector registers) get them without spills.
        if (Avx2.IsSupported && Avx512F.VL.IsSupported)
        {
            list.Add(new("ymm vpmaddubsw alone", 32, 1, 24, MaddYmm24));
            list.Add(new("ymm vpmaddubsw + vpaddw", 32, 2, 24, MaddAddYmm24));
        }
        else if (Avx2.IsSupported)
        {
            list.Add(new("ymm vpmaddubsw alone", 32, 1, 12, MaddYmm12));
            list.Add(new("ymm vpmaddubsw + vpaddw", 32, 2, 12, MaddAddYmm12));
        }
        if (Avx512BW.IsSupported)
        {
            list.Add(new("zmm vpmaddubsw alone", 64, 1, 24, MaddZmm24));
            list.Add(new("zmm vpmaddubsw + vpaddw", 64, 2, 24, MaddAddZmm24));
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

    [MethodImpl(MethodImplOptions.NoInlining)]
    static long MaddYmm12(long steps)
    {
        var x = Vector256.Create((sbyte)(steps | 1));
        var (a0, a1, a2, a3, a4, a5) = (Vector256.Create((short)0), Vector256.Create((short)1), Vector256.Create((short)2), Vector256.Create((short)3), Vector256.Create((short)4), Vector256.Create((short)5));
        var (a6, a7, a8, a9, a10, a11) = (Vector256.Create((short)6), Vector256.Create((short)7), Vector256.Create((short)8), Vector256.Create((short)9), Vector256.Create((short)10), Vector256.Create((short)11));
        for (long i = 0; i < steps; i++)
        {
            a0 = Avx2.MultiplyAddAdjacent(a0.AsByte(), x);
            a1 = Avx2.MultiplyAddAdjacent(a1.AsByte(), x);
            a2 = Avx2.MultiplyAddAdjacent(a2.AsByte(), x);
            a3 = Avx2.MultiplyAddAdjacent(a3.AsByte(), x);
            a4 = Avx2.MultiplyAddAdjacent(a4.AsByte(), x);
            a5 = Avx2.MultiplyAddAdjacent(a5.AsByte(), x);
            a6 = Avx2.MultiplyAddAdjacent(a6.AsByte(), x);
            a7 = Avx2.MultiplyAddAdjacent(a7.AsByte(), x);
            a8 = Avx2.MultiplyAddAdjacent(a8.AsByte(), x);
            a9 = Avx2.MultiplyAddAdjacent(a9.AsByte(), x);
            a10 = Avx2.MultiplyAddAdjacent(a10.AsByte(), x);
            a11 = Avx2.MultiplyAddAdjacent(a11.AsByte(), x);
        }
        return (a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7 ^ a8 ^ a9 ^ a10 ^ a11).ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static long MaddAddYmm12(long steps)
    {
        var x = Vector256.Create((sbyte)(steps | 1));
        var (a0, a1, a2, a3, a4, a5) = (Vector256.Create((short)0), Vector256.Create((short)1), Vector256.Create((short)2), Vector256.Create((short)3), Vector256.Create((short)4), Vector256.Create((short)5));
        var (a6, a7, a8, a9, a10, a11) = (Vector256.Create((short)6), Vector256.Create((short)7), Vector256.Create((short)8), Vector256.Create((short)9), Vector256.Create((short)10), Vector256.Create((short)11));
        for (long i = 0; i < steps; i++)
        {
            a0 += Avx2.MultiplyAddAdjacent(a0.AsByte(), x);
            a1 += Avx2.MultiplyAddAdjacent(a1.AsByte(), x);
            a2 += Avx2.MultiplyAddAdjacent(a2.AsByte(), x);
            a3 += Avx2.MultiplyAddAdjacent(a3.AsByte(), x);
            a4 += Avx2.MultiplyAddAdjacent(a4.AsByte(), x);
            a5 += Avx2.MultiplyAddAdjacent(a5.AsByte(), x);
            a6 += Avx2.MultiplyAddAdjacent(a6.AsByte(), x);
            a7 += Avx2.MultiplyAddAdjacent(a7.AsByte(), x);
            a8 += Avx2.MultiplyAddAdjacent(a8.AsByte(), x);
            a9 += Avx2.MultiplyAddAdjacent(a9.AsByte(), x);
            a10 += Avx2.MultiplyAddAdjacent(a10.AsByte(), x);
            a11 += Avx2.MultiplyAddAdjacent(a11.AsByte(), x);
        }
        return (a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7 ^ a8 ^ a9 ^ a10 ^ a11).ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static long MaddYmm24(long steps)
    {
        var x = Vector256.Create((sbyte)(steps | 1));
        var (a0, a1, a2, a3, a4, a5) = (Vector256.Create((short)0), Vector256.Create((short)1), Vector256.Create((short)2), Vector256.Create((short)3), Vector256.Create((short)4), Vector256.Create((short)5));
        var (a6, a7, a8, a9, a10, a11) = (Vector256.Create((short)6), Vector256.Create((short)7), Vector256.Create((short)8), Vector256.Create((short)9), Vector256.Create((short)10), Vector256.Create((short)11));
        var (a12, a13, a14, a15, a16, a17) = (Vector256.Create((short)12), Vector256.Create((short)13), Vector256.Create((short)14), Vector256.Create((short)15), Vector256.Create((short)16), Vector256.Create((short)17));
        var (a18, a19, a20, a21, a22, a23) = (Vector256.Create((short)18), Vector256.Create((short)19), Vector256.Create((short)20), Vector256.Create((short)21), Vector256.Create((short)22), Vector256.Create((short)23));
        for (long i = 0; i < steps; i++)
        {
            a0 = Avx2.MultiplyAddAdjacent(a0.AsByte(), x);
            a1 = Avx2.MultiplyAddAdjacent(a1.AsByte(), x);
            a2 = Avx2.MultiplyAddAdjacent(a2.AsByte(), x);
            a3 = Avx2.MultiplyAddAdjacent(a3.AsByte(), x);
            a4 = Avx2.MultiplyAddAdjacent(a4.AsByte(), x);
            a5 = Avx2.MultiplyAddAdjacent(a5.AsByte(), x);
            a6 = Avx2.MultiplyAddAdjacent(a6.AsByte(), x);
            a7 = Avx2.MultiplyAddAdjacent(a7.AsByte(), x);
            a8 = Avx2.MultiplyAddAdjacent(a8.AsByte(), x);
            a9 = Avx2.MultiplyAddAdjacent(a9.AsByte(), x);
            a10 = Avx2.MultiplyAddAdjacent(a10.AsByte(), x);
            a11 = Avx2.MultiplyAddAdjacent(a11.AsByte(), x);
            a12 = Avx2.MultiplyAddAdjacent(a12.AsByte(), x);
            a13 = Avx2.MultiplyAddAdjacent(a13.AsByte(), x);
            a14 = Avx2.MultiplyAddAdjacent(a14.AsByte(), x);
            a15 = Avx2.MultiplyAddAdjacent(a15.AsByte(), x);
            a16 = Avx2.MultiplyAddAdjacent(a16.AsByte(), x);
            a17 = Avx2.MultiplyAddAdjacent(a17.AsByte(), x);
            a18 = Avx2.MultiplyAddAdjacent(a18.AsByte(), x);
            a19 = Avx2.MultiplyAddAdjacent(a19.AsByte(), x);
            a20 = Avx2.MultiplyAddAdjacent(a20.AsByte(), x);
            a21 = Avx2.MultiplyAddAdjacent(a21.AsByte(), x);
            a22 = Avx2.MultiplyAddAdjacent(a22.AsByte(), x);
            a23 = Avx2.MultiplyAddAdjacent(a23.AsByte(), x);
        }
        return (a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7 ^ a8 ^ a9 ^ a10 ^ a11 ^ a12 ^ a13 ^ a14 ^ a15 ^ a16 ^ a17 ^ a18 ^ a19 ^ a20 ^ a21 ^ a22 ^ a23).ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static long MaddAddYmm24(long steps)
    {
        var x = Vector256.Create((sbyte)(steps | 1));
        var (a0, a1, a2, a3, a4, a5) = (Vector256.Create((short)0), Vector256.Create((short)1), Vector256.Create((short)2), Vector256.Create((short)3), Vector256.Create((short)4), Vector256.Create((short)5));
        var (a6, a7, a8, a9, a10, a11) = (Vector256.Create((short)6), Vector256.Create((short)7), Vector256.Create((short)8), Vector256.Create((short)9), Vector256.Create((short)10), Vector256.Create((short)11));
        var (a12, a13, a14, a15, a16, a17) = (Vector256.Create((short)12), Vector256.Create((short)13), Vector256.Create((short)14), Vector256.Create((short)15), Vector256.Create((short)16), Vector256.Create((short)17));
        var (a18, a19, a20, a21, a22, a23) = (Vector256.Create((short)18), Vector256.Create((short)19), Vector256.Create((short)20), Vector256.Create((short)21), Vector256.Create((short)22), Vector256.Create((short)23));
        for (long i = 0; i < steps; i++)
        {
            a0 += Avx2.MultiplyAddAdjacent(a0.AsByte(), x);
            a1 += Avx2.MultiplyAddAdjacent(a1.AsByte(), x);
            a2 += Avx2.MultiplyAddAdjacent(a2.AsByte(), x);
            a3 += Avx2.MultiplyAddAdjacent(a3.AsByte(), x);
            a4 += Avx2.MultiplyAddAdjacent(a4.AsByte(), x);
            a5 += Avx2.MultiplyAddAdjacent(a5.AsByte(), x);
            a6 += Avx2.MultiplyAddAdjacent(a6.AsByte(), x);
            a7 += Avx2.MultiplyAddAdjacent(a7.AsByte(), x);
            a8 += Avx2.MultiplyAddAdjacent(a8.AsByte(), x);
            a9 += Avx2.MultiplyAddAdjacent(a9.AsByte(), x);
            a10 += Avx2.MultiplyAddAdjacent(a10.AsByte(), x);
            a11 += Avx2.MultiplyAddAdjacent(a11.AsByte(), x);
            a12 += Avx2.MultiplyAddAdjacent(a12.AsByte(), x);
            a13 += Avx2.MultiplyAddAdjacent(a13.AsByte(), x);
            a14 += Avx2.MultiplyAddAdjacent(a14.AsByte(), x);
            a15 += Avx2.MultiplyAddAdjacent(a15.AsByte(), x);
            a16 += Avx2.MultiplyAddAdjacent(a16.AsByte(), x);
            a17 += Avx2.MultiplyAddAdjacent(a17.AsByte(), x);
            a18 += Avx2.MultiplyAddAdjacent(a18.AsByte(), x);
            a19 += Avx2.MultiplyAddAdjacent(a19.AsByte(), x);
            a20 += Avx2.MultiplyAddAdjacent(a20.AsByte(), x);
            a21 += Avx2.MultiplyAddAdjacent(a21.AsByte(), x);
            a22 += Avx2.MultiplyAddAdjacent(a22.AsByte(), x);
            a23 += Avx2.MultiplyAddAdjacent(a23.AsByte(), x);
        }
        return (a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7 ^ a8 ^ a9 ^ a10 ^ a11 ^ a12 ^ a13 ^ a14 ^ a15 ^ a16 ^ a17 ^ a18 ^ a19 ^ a20 ^ a21 ^ a22 ^ a23).ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static long MaddZmm24(long steps)
    {
        var x = Vector512.Create((sbyte)(steps | 1));
        var (a0, a1, a2, a3, a4, a5) = (Vector512.Create((short)0), Vector512.Create((short)1), Vector512.Create((short)2), Vector512.Create((short)3), Vector512.Create((short)4), Vector512.Create((short)5));
        var (a6, a7, a8, a9, a10, a11) = (Vector512.Create((short)6), Vector512.Create((short)7), Vector512.Create((short)8), Vector512.Create((short)9), Vector512.Create((short)10), Vector512.Create((short)11));
        var (a12, a13, a14, a15, a16, a17) = (Vector512.Create((short)12), Vector512.Create((short)13), Vector512.Create((short)14), Vector512.Create((short)15), Vector512.Create((short)16), Vector512.Create((short)17));
        var (a18, a19, a20, a21, a22, a23) = (Vector512.Create((short)18), Vector512.Create((short)19), Vector512.Create((short)20), Vector512.Create((short)21), Vector512.Create((short)22), Vector512.Create((short)23));
        for (long i = 0; i < steps; i++)
        {
            a0 = Avx512BW.MultiplyAddAdjacent(a0.AsByte(), x);
            a1 = Avx512BW.MultiplyAddAdjacent(a1.AsByte(), x);
            a2 = Avx512BW.MultiplyAddAdjacent(a2.AsByte(), x);
            a3 = Avx512BW.MultiplyAddAdjacent(a3.AsByte(), x);
            a4 = Avx512BW.MultiplyAddAdjacent(a4.AsByte(), x);
            a5 = Avx512BW.MultiplyAddAdjacent(a5.AsByte(), x);
            a6 = Avx512BW.MultiplyAddAdjacent(a6.AsByte(), x);
            a7 = Avx512BW.MultiplyAddAdjacent(a7.AsByte(), x);
            a8 = Avx512BW.MultiplyAddAdjacent(a8.AsByte(), x);
            a9 = Avx512BW.MultiplyAddAdjacent(a9.AsByte(), x);
            a10 = Avx512BW.MultiplyAddAdjacent(a10.AsByte(), x);
            a11 = Avx512BW.MultiplyAddAdjacent(a11.AsByte(), x);
            a12 = Avx512BW.MultiplyAddAdjacent(a12.AsByte(), x);
            a13 = Avx512BW.MultiplyAddAdjacent(a13.AsByte(), x);
            a14 = Avx512BW.MultiplyAddAdjacent(a14.AsByte(), x);
            a15 = Avx512BW.MultiplyAddAdjacent(a15.AsByte(), x);
            a16 = Avx512BW.MultiplyAddAdjacent(a16.AsByte(), x);
            a17 = Avx512BW.MultiplyAddAdjacent(a17.AsByte(), x);
            a18 = Avx512BW.MultiplyAddAdjacent(a18.AsByte(), x);
            a19 = Avx512BW.MultiplyAddAdjacent(a19.AsByte(), x);
            a20 = Avx512BW.MultiplyAddAdjacent(a20.AsByte(), x);
            a21 = Avx512BW.MultiplyAddAdjacent(a21.AsByte(), x);
            a22 = Avx512BW.MultiplyAddAdjacent(a22.AsByte(), x);
            a23 = Avx512BW.MultiplyAddAdjacent(a23.AsByte(), x);
        }
        return (a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7 ^ a8 ^ a9 ^ a10 ^ a11 ^ a12 ^ a13 ^ a14 ^ a15 ^ a16 ^ a17 ^ a18 ^ a19 ^ a20 ^ a21 ^ a22 ^ a23).ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static long MaddAddZmm24(long steps)
    {
        var x = Vector512.Create((sbyte)(steps | 1));
        var (a0, a1, a2, a3, a4, a5) = (Vector512.Create((short)0), Vector512.Create((short)1), Vector512.Create((short)2), Vector512.Create((short)3), Vector512.Create((short)4), Vector512.Create((short)5));
        var (a6, a7, a8, a9, a10, a11) = (Vector512.Create((short)6), Vector512.Create((short)7), Vector512.Create((short)8), Vector512.Create((short)9), Vector512.Create((short)10), Vector512.Create((short)11));
        var (a12, a13, a14, a15, a16, a17) = (Vector512.Create((short)12), Vector512.Create((short)13), Vector512.Create((short)14), Vector512.Create((short)15), Vector512.Create((short)16), Vector512.Create((short)17));
        var (a18, a19, a20, a21, a22, a23) = (Vector512.Create((short)18), Vector512.Create((short)19), Vector512.Create((short)20), Vector512.Create((short)21), Vector512.Create((short)22), Vector512.Create((short)23));
        for (long i = 0; i < steps; i++)
        {
            a0 += Avx512BW.MultiplyAddAdjacent(a0.AsByte(), x);
            a1 += Avx512BW.MultiplyAddAdjacent(a1.AsByte(), x);
            a2 += Avx512BW.MultiplyAddAdjacent(a2.AsByte(), x);
            a3 += Avx512BW.MultiplyAddAdjacent(a3.AsByte(), x);
            a4 += Avx512BW.MultiplyAddAdjacent(a4.AsByte(), x);
            a5 += Avx512BW.MultiplyAddAdjacent(a5.AsByte(), x);
            a6 += Avx512BW.MultiplyAddAdjacent(a6.AsByte(), x);
            a7 += Avx512BW.MultiplyAddAdjacent(a7.AsByte(), x);
            a8 += Avx512BW.MultiplyAddAdjacent(a8.AsByte(), x);
            a9 += Avx512BW.MultiplyAddAdjacent(a9.AsByte(), x);
            a10 += Avx512BW.MultiplyAddAdjacent(a10.AsByte(), x);
            a11 += Avx512BW.MultiplyAddAdjacent(a11.AsByte(), x);
            a12 += Avx512BW.MultiplyAddAdjacent(a12.AsByte(), x);
            a13 += Avx512BW.MultiplyAddAdjacent(a13.AsByte(), x);
            a14 += Avx512BW.MultiplyAddAdjacent(a14.AsByte(), x);
            a15 += Avx512BW.MultiplyAddAdjacent(a15.AsByte(), x);
            a16 += Avx512BW.MultiplyAddAdjacent(a16.AsByte(), x);
            a17 += Avx512BW.MultiplyAddAdjacent(a17.AsByte(), x);
            a18 += Avx512BW.MultiplyAddAdjacent(a18.AsByte(), x);
            a19 += Avx512BW.MultiplyAddAdjacent(a19.AsByte(), x);
            a20 += Avx512BW.MultiplyAddAdjacent(a20.AsByte(), x);
            a21 += Avx512BW.MultiplyAddAdjacent(a21.AsByte(), x);
            a22 += Avx512BW.MultiplyAddAdjacent(a22.AsByte(), x);
            a23 += Avx512BW.MultiplyAddAdjacent(a23.AsByte(), x);
        }
        return (a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7 ^ a8 ^ a9 ^ a10 ^ a11 ^ a12 ^ a13 ^ a14 ^ a15 ^ a16 ^ a17 ^ a18 ^ a19 ^ a20 ^ a21 ^ a22 ^ a23).ToScalar();
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

    static Options Parse(string[] args)
    {
        int[] threads = [1, 2];
        string? model = null;
        IReadOnlyList<TernaryKernel> kernels = [.. KernelFactory.Available.Where(k => k.Name is not ("scalar" or "vector128"))];
        int tokens = 64;
        IReadOnlyList<GemvShape> shapes = [.. GemvShape.All.Where(s => s.Model == "370M")];
        double seconds = 0.3;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            string[] List() => Value().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            switch (args[i])
            {
                case "--threads":
                    threads = [.. List().Select(t => int.TryParse(t, out int n) && n >= 1 ? n : throw new ArgumentException($"--threads takes whole numbers ≥ 1 (got \"{t}\")."))];
                    break;
                case "-m" or "--model":
                    model = Value();
                    if (!File.Exists(model))
                        throw new ArgumentException($"The model file {model} does not exist (create one with `edge-pack synth --preset 370m -o {model}`).");
                    break;
                case "--kernels":
                    kernels = [.. List().Select(KernelFactory.Select)];
                    break;
                case "--tokens":
                    tokens = int.TryParse(Value(), out int n) && n >= 1 ? n : throw new ArgumentException("--tokens takes a whole number ≥ 1.");
                    break;
                case "--shapes":
                    string which = Value().ToLowerInvariant();
                    shapes = which switch
                    {
                        "all" => GemvShape.All,
                        "none" => [],
                        _ => GemvShape.All.Where(s => s.Model.Equals(which, StringComparison.OrdinalIgnoreCase)).ToList() is { Count: > 0 } picked ? picked
                            : throw new ArgumentException($"--shapes takes 370m, 2.7b, all or none (got \"{which}\")."),
                    };
                    break;
                case "--seconds":
                    seconds = double.TryParse(Value(), CultureInfo.InvariantCulture, out double s) && s > 0 ? s : throw new ArgumentException("--seconds takes a positive number.");
                    break;
                default:
                    throw new ArgumentException($"Unknown option {args[i]}.");
            }
        }
        if (threads.Length == 0)
            throw new ArgumentException("--threads needs at least one value.");
        return new Options(threads, model, kernels, tokens, shapes, seconds);
    }
}
