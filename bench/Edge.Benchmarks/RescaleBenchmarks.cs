using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using Edge.Format.Numerics;

namespace Edge.Benchmarks;

/// <summary>
/// The BitLinear epilogue (int32 sums → floats) in one pass, against the two TensorPrimitives passes it replaced,
/// for one 370M decode product (1024, 5632 outputs) and one prefill batch of 64 tokens (64 × 5632).
/// </summary>
[InProcess]
public class RescaleBenchmarks
{
    int[] _sums = [];
    float[] _output = [];

    [Params(1024, 5632, 64 * 5632)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(9);
        _sums = [.. Enumerable.Range(0, N).Select(_ => rng.Next(-100_000, 100_000))];
        _output = new float[N];
    }

    [Benchmark]
    public void OnePass() => BitLinearRule.Rescale(_sums, 0.01f, _output);

    [Benchmark(Baseline = true)]
    public void ConvertThenMultiply()
    {
        TensorPrimitives.ConvertTruncating<int, float>(_sums, _output);
        TensorPrimitives.Multiply(_output, 0.01f, _output);
    }
}
