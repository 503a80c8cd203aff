using Edge.Format.Numerics;
using Edge.Runtime.Kernels;

namespace Edge.Kernels.Tests;

public unsafe class ScalarKernelTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 255)]
    [InlineData(5, 256)]
    [InlineData(2, 257)]
    [InlineData(7, 1000)]
    public void MatchesTheDefinition(int rows, int k)
    {
        var rng = new Random(rows * 7919 + k);
        var t = new sbyte[rows, k];
        int rowBytes = TernaryPacking.RowBytes(k);
        var packed = new byte[rows * rowBytes];
        var x = new sbyte[TernaryPacking.PaddedLength(k)];
        for (int i = 0; i < k; i++)
            x[i] = (sbyte)rng.Next(-127, 128);
        for (int r = 0; r < rows; r++)
        {
            var row = new sbyte[k];
            for (int i = 0; i < k; i++)
                row[i] = t[r, i] = (sbyte)rng.Next(-1, 2);
            TernaryPacking.PackRow(row, packed.AsSpan(r * rowBytes, rowBytes));
        }
        var y = new int[rows];
        fixed (byte* p = packed)
            new ScalarTernaryKernel().MatVec(new TernaryMatrix(p, rows, k, 1f), 0, x, x.Sum(v => v), y);
        for (int r = 0; r < rows; r++)
        {
            int expected = 0;
            for (int i = 0; i < k; i++)
                expected += t[r, i] * x[i];
            Assert.Equal(expected, y[r]);
        }
    }
}
