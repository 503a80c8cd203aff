using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// The reference kernel: decodes each 2-bit code and adds, subtracts or skips the activation. Plain C#, no SIMD;
/// every other kernel is tested against it, and it runs on any CPU.
/// </summary>
internal sealed class ScalarTernaryKernel : TernaryKernel
{
    public override string Name => "scalar";

    public override string Description => "add/subtract per weight, decoded from the 2-bit code";

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y)
    {
        CheckMatVec(w, rowStart, x, y);
        int blocks = w.RowBytes / TernaryPacking.BlockBytes;
        for (int i = 0; i < y.Length; i++)
        {
            var row = w.Row(rowStart + i);
            int acc = 0;
            for (int block = 0; block < blocks; block++)
            {
                var bytes = row.Slice(block * TernaryPacking.BlockBytes, TernaryPacking.BlockBytes);
                var xb = x.Slice(block * TernaryPacking.BlockWeights, TernaryPacking.BlockWeights);
                for (int j = 0; j < TernaryPacking.BlockBytes; j++)
                {
                    int b = bytes[j];
                    for (int lane = 0; lane < 4; lane++)
                    {
                        int code = (b >> (2 * lane)) & 3;
                        int a = xb[lane * TernaryPacking.BlockBytes + j];
                        if (code == 2)
                            acc += a;
                        else if (code == 0)
                            acc -= a;
                    }
                }
            }
            y[i] = acc;
        }
    }
}
