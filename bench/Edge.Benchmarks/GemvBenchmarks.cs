using BenchmarkDotNet.Attributes;
using Edge.Benchmarks.Ggml;
using Edge.Runtime.Kernels;

namespace Edge.Benchmarks;

/// <summary>
/// BenchmarkDotNet version of the comparison: one GEMV per operation, for every Edge kernel and ggml TQ2_0/TQ1_0,
/// on each MMfreeLM shape, at 1 and 2 threads, cold and hot. Slow (minutes per case); <c>compare</c> is the quick one.
/// In-process, so Edge and ggml run in the same process as in <c>compare</c>.
/// </summary>
[InProcess]
[MemoryDiagnoser(displayGenColumns: false)]
public class GemvBenchmarks
{
    GemvEngine? _engine;
    EdgeMatrixSet? _edgeMatrices;

    public static IEnumerable<string> Engines() =>
        KernelFactory.Available.Select(k => "edge " + k.Name).Concat(["ggml tq2_0", "ggml tq1_0"]);

    public static IEnumerable<string> Shapes() => GemvShape.All.Select(s => $"{s.K}x{s.N}");

    [ParamsSource(nameof(Engines))]
    public string Engine { get; set; } = "";

    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "";

    [Params(1, 2)]
    public int Threads { get; set; }

    [Params("cold", "hot")]
    public string Mode { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var shape = GemvShape.All.Single(s => $"{s.K}x{s.N}" == Shape);
        var mode = Enum.Parse<CacheMode>(Mode, ignoreCase: true);
        if (Engine.StartsWith("edge ", StringComparison.Ordinal))
        {
            _edgeMatrices = new EdgeMatrixSet(shape, mode);
            _engine = new EdgeGemvEngine(KernelFactory.Select(Engine[5..]), _edgeMatrices, mode);
        }
        else
        {
            GgmlNative.EnsureLoaded();
            _engine = new GgmlGemvEngine(Engine == "ggml tq1_0" ? GgmlNative.TypeTq1_0 : GgmlNative.TypeTq2_0, shape, mode);
        }
        _engine.SetThreads(Threads);
    }

    [Benchmark]
    public void Gemv() => _engine!.Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        _engine?.Dispose();
        _edgeMatrices?.Dispose();
    }
}
