using System.Runtime.InteropServices;

namespace Edge.Benchmarks.Ggml;

/// <summary>
/// ggml's CPU mul_mat of a TQ1_0 or TQ2_0 matrix with a float vector (ggml quantizes the vector to Q8_K inside the
/// call, as in llama.cpp's decode), one prebuilt one-node graph per matrix, run with ggml_graph_compute and a
/// caller-owned work buffer (ggml_graph_compute_with_ctx would take a new buffer from the context on every call).
/// </summary>
sealed unsafe class GgmlGemvEngine : GemvEngine
{
    readonly int _type;
    readonly void* _context;
    readonly void*[] _graphs;
    readonly void*[] _outputs;
    readonly GgmlNative.ComputePlan[] _plans;
    readonly byte* _memory;
    readonly MatrixPages _pages;
    byte* _work;
    nuint _workSize;
    int _threads;

    /// <param name="pages">The context's memory (its matrices one after another) comes from the caller, in these pages.</param>
    public GgmlGemvEngine(int type, GemvShape shape, CacheMode mode, MatrixPages pages = MatrixPages.Huge) : base(shape, mode)
    {
        GgmlNative.EnsureLoaded();
        _type = type;
        long rowBytes = (long)GgmlNative.RowSize(type, shape.K);
        MatrixBytes = rowBytes * shape.N;
        int copies = mode == CacheMode.Hot ? 1 : shape.ColdCopies(MatrixBytes);
        const int graphNodes = 8;
        long perCopy = MatrixBytes + 4L * shape.N + 2 * (long)GgmlNative.TensorOverhead() + (long)GgmlNative.GraphOverhead(graphNodes, false) + 1024;
        long memorySize = copies * perCopy + 4L * shape.K + (long)GgmlNative.TensorOverhead() + (1 << 20);
        _pages = pages;
        _memory = MatrixMemory.Allocate(memorySize, pages);
        _context = GgmlNative.Init(new GgmlNative.InitParams { MemSize = (nuint)memorySize, MemBuffer = _memory });
        if (_context == null)
        {
            MatrixMemory.Free(_memory, pages);
            throw new OutOfMemoryException($"ggml_init could not set up a context of {memorySize} bytes.");
        }

        void* x = GgmlNative.NewTensor2D(_context, GgmlNative.TypeF32, shape.K, 1);
        TestData.Activations(shape.K).CopyTo(new Span<float>(GgmlNative.GetData(x), shape.K));

        _graphs = new void*[copies];
        _outputs = new void*[copies];
        _plans = new GgmlNative.ComputePlan[copies];
        var ternary = new sbyte[shape.K];
        var row = new float[shape.K];
        fixed (float* source = row)
        {
            for (int c = 0; c < copies; c++)
            {
                void* w = GgmlNative.NewTensor2D(_context, type, shape.K, shape.N);
                byte* data = (byte*)GgmlNative.GetData(w);
                for (int r = 0; r < shape.N; r++)
                {
                    TestData.TernaryRow(shape, c, r, ternary);
                    for (int k = 0; k < row.Length; k++)
                        row[k] = ternary[k];
                    GgmlNative.QuantizeChunk(type, source, data + r * rowBytes, 0, 1, shape.K, null);
                }
                _outputs[c] = GgmlNative.MulMat(_context, w, x);
                _graphs[c] = GgmlNative.NewGraph(_context, graphNodes, false);
                GgmlNative.BuildForwardExpand(_graphs[c], _outputs[c]);
            }
        }
        SetThreads(1);
    }

    public override string Name => $"ggml {(_type == GgmlNative.TypeTq1_0 ? "tq1_0" : "tq2_0")}";

    public override long MatrixBytes { get; }

    public override int Copies => _graphs.Length;

    public override void SetThreads(int threads)
    {
        if (threads == _threads)
            return;
        for (int c = 0; c < _graphs.Length; c++)
        {
            _plans[c] = GgmlNative.GraphPlan(_graphs[c], threads, null);
            if (_plans[c].WorkSize > _workSize)
            {
                NativeMemory.AlignedFree(_work);
                _workSize = _plans[c].WorkSize;
                _work = (byte*)NativeMemory.AlignedAlloc(_workSize, 64);
            }
        }
        for (int c = 0; c < _graphs.Length; c++)
            _plans[c].WorkData = _work;
        _threads = threads;
    }

    protected override void Multiply(int copy)
    {
        fixed (GgmlNative.ComputePlan* plan = &_plans[copy])
        {
            int status = GgmlNative.GraphCompute(_graphs[copy], plan);
            if (status != 0)
                throw new InvalidOperationException($"ggml_graph_compute failed with status {status}.");
        }
    }

    public override float[] Result(int count)
    {
        Multiply(0);
        return new ReadOnlySpan<float>(GgmlNative.GetData(_outputs[0]), count).ToArray();
    }

    public override void Dispose()
    {
        GgmlNative.Free(_context); // a context does not free memory it was given
        MatrixMemory.Free(_memory, _pages);
        NativeMemory.AlignedFree(_work);
    }
}
