using BenchmarkDotNet.Attributes;
using Edge.Format.Numerics;

namespace Edge.Benchmarks;

/// <summary>
/// The activation path every BitLinear runs per token before its product: RMSNorm, absmax and int8 rounding
/// (<see cref="ActivationQuantizer.Quantize"/>), and the RMSNorm alone, at the 370M model's two input widths.
/// </summary>
[InProcess]
[MemoryDiagnoser(displayGenColumns: false)]
public class ActivationBenchmarks
{
    float[] _x = [], _weight = [], _normalized = [];
    sbyte[] _q = [];

    [Params(1024, 2816)]
    public int K { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        _x = [.. Enumerable.Range(0, K).Select(_ => rng.NextSingle() * 4 - 2)];
        _weight = [.. Enumerable.Range(0, K).Select(_ => 0.5f + rng.NextSingle())];
        _normalized = new float[K];
        _q = new sbyte[TernaryPacking.PaddedLength(K)];
    }

    [Benchmark]
    public float Quantize() => ActivationQuantizer.Quantize(_x, _weight, _normalized, _q);

    [Benchmark]
    public void RmsNorm() => ActivationQuantizer.RmsNorm(_x, _weight, ActivationQuantizer.NormEps, _normalized);
}
