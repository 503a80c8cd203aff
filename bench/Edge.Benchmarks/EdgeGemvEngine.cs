using Edge.Format.Container;
using Edge.Runtime.Kernels;

namespace Edge.Benchmarks;

/// <summary>The packed matrices of one shape and mode, shared by every Edge kernel that is timed on them.</summary>
sealed unsafe class EdgeMatrixSet : IDisposable
{
    readonly byte* _memory;
    readonly MatrixPages _pages;
    readonly long _stride;

    /// <summary>The copies lie one after another in one allocation, each on a 64-byte boundary, as ggml's do in its context.</summary>
    public EdgeMatrixSet(GemvShape shape, CacheMode mode, TensorType layout = TensorType.Ternary2, MatrixPages pages = MatrixPages.Huge)
    {
        Shape = shape;
        Layout = layout;
        _pages = pages;
        int rowBytes = TensorTypes.TernaryRowBytes(layout, shape.K);
        MatrixBytes = (long)rowBytes * shape.N;
        _stride = (MatrixBytes + 63) & ~63L;
        Copies = mode == CacheMode.Hot ? 1 : shape.ColdCopies(MatrixBytes);
        _memory = MatrixMemory.Allocate(Copies * _stride, pages);
        var row = new sbyte[shape.K];
        for (int c = 0; c < Copies; c++)
            for (int r = 0; r < shape.N; r++)
            {
                TestData.TernaryRow(shape, c, r, row);
                TensorTypes.PackTernaryRow(layout, row, new Span<byte>(_memory + c * _stride + (long)r * rowBytes, rowBytes));
            }
    }

    public GemvShape Shape { get; }

    /// <summary><see cref="TensorType.Ternary2"/> or <see cref="TensorType.TernaryFiveTrit"/>.</summary>
    public TensorType Layout { get; }

    public long MatrixBytes { get; }

    public int Copies { get; }

    public TernaryMatrix this[int copy] => new(_memory + copy * _stride, Shape.N, Shape.K, 1f, Layout);

    public void Dispose() => MatrixMemory.Free(_memory, _pages);
}

/// <summary>An Edge kernel through <see cref="TernaryExecutor"/>, on int8 activations, as the model calls it.</summary>
sealed class EdgeGemvEngine : GemvEngine
{
    readonly TernaryKernel _kernel;
    readonly EdgeMatrixSet _matrices;
    readonly AlignedBuffer<sbyte> _x; // aligned as the model's: a 64-byte load across two cache lines costs two
    readonly int[] _xSum;
    readonly int[] _y;
    TernaryExecutor? _executor;

    /// <param name="matrices">Owned by the caller, which may share it between kernels.</param>
    public EdgeGemvEngine(TernaryKernel kernel, EdgeMatrixSet matrices, CacheMode mode) : base(matrices.Shape, mode)
    {
        _kernel = kernel;
        _matrices = matrices;
        var quantized = TestData.Quantize(TestData.Activations(Shape.K), out int sum);
        _x = new AlignedBuffer<sbyte>(quantized.Length);
        quantized.CopyTo(_x.Span);
        _xSum = [sum];
        _y = new int[Shape.N];
        SetThreads(1);
    }

    public TernaryKernel Kernel => _kernel;

    public override string Name => $"edge {_kernel.Name}";

    public override long MatrixBytes => _matrices.MatrixBytes;

    public override int Copies => Mode == CacheMode.Hot ? 1 : _matrices.Copies;

    public override void SetThreads(int threads)
    {
        if (_executor?.Threads == threads)
            return;
        _executor?.Dispose();
        _executor = _kernel.Layout == TensorType.Ternary2 ? new TernaryExecutor(_kernel, threads)
            : new TernaryExecutor(KernelFactory.Available[0], threads, fiveTritKernel: _kernel);
    }

    protected override void Multiply(int copy) => _executor!.MatMul(_matrices[copy], _x.Span, _xSum, 1, _y);

    /// <summary>Integer sums scaled back to the float input's units, comparable with ggml's float output.</summary>
    public override float[] Result(int count)
    {
        Multiply(0);
        float activationScale = 127f / TestData.Activations(Shape.K).Max(MathF.Abs);
        return [.. _y.Take(count).Select(v => v / activationScale)];
    }

    public override void Dispose() => _executor?.Dispose();
}
