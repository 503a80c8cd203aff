using System.Runtime.Intrinsics;
using Edge.Format.Container;
using Edge.Runtime.Kernels;

namespace Edge.Benchmarks;

/// <summary>
/// Not a kernel: it reads every packed byte of its rows with two 16-byte loads and two XORs per 32 bytes (which every CPU Edge runs on has), and nothing
/// else. Run through <see cref="TernaryExecutor"/> like the real kernels, it is the memory bound of a product with
/// that shape, thread count and cache mode, so `compare` can show how far each kernel is from it.
/// </summary>
sealed unsafe class ReadOnlyKernel(TensorType layout) : TernaryKernel
{
    public const string NamePrefix = "read-only";

    public override string Name => NameFor(layout);

    /// <summary>The name of the pass over matrices packed as <paramref name="layout"/>.</summary>
    public static string NameFor(TensorType layout) => $"{NamePrefix} {(layout == TensorType.Ternary2 ? "2bit" : "1.6bit")}";

    public override string Description => "reads the rows' bytes and computes nothing (the memory bound)";

    public override TensorType Layout => layout;

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y)
    {
        CheckMatVec(w, rowStart, x, y, layout);
        long rowBytes = w.RowBytes;
        byte* row = w.Data + rowStart * rowBytes;
        for (int i = 0; i < y.Length; i++, row += rowBytes)
        {
            var acc = Vector128<byte>.Zero;
            long b = 0;
            for (; b + 2 * Vector128<byte>.Count <= rowBytes; b += 2 * Vector128<byte>.Count)
                acc ^= Vector128.Load(row + b) ^ Vector128.Load(row + b + Vector128<byte>.Count);
            for (; b < rowBytes; b += Vector128<byte>.Count) // packed rows are whole 16-byte groups
                acc ^= Vector128.Load(row + b);
            y[i] = Vector128.Sum(acc.AsInt32());
        }
    }
}
