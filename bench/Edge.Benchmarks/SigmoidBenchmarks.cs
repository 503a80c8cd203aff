using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using Edge.Runtime.Model;

namespace Edge.Benchmarks;

/// <summary>
/// σ and silu as the recurrence and the GLU take them, at the 370M model's two widths: <see cref="TensorPrimitives"/>
/// (its exp widened to double; silu as σ then a multiply, as the model did) against <see cref="Activations"/> (float32).
/// </summary>
[InProcess]
[MemoryDiagnoser(displayGenColumns: false)]
public class SigmoidBenchmarks
{
    float[] _x = [], _y = [];

    [Params(1024, 2816)]
    public int K { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        _x = [.. Enumerable.Range(0, K).Select(_ => rng.NextSingle() * 16 - 8)];
        _y = new float[K];
    }

    [Benchmark(Baseline = true)]
    public void TensorPrimitivesSigmoid() => TensorPrimitives.Sigmoid(_x, _y);

    [Benchmark]
    public void Sigmoid() => Activations.Sigmoid(_x, _y);

    [Benchmark]
    public void TensorPrimitivesSilu()
    {
        TensorPrimitives.Sigmoid(_x, _y);
        TensorPrimitives.Multiply(_x, _y, _y);
    }

    [Benchmark]
    public void Silu() => Activations.Silu(_x, _y);
}
