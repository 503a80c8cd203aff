using Edge.Format.Container;
using Edge.Format.Numerics;
using Edge.Runtime.Kernels;

namespace Edge.Kernels.Tests;

/// <summary>
/// Every kernel this CPU offers must return exactly what the scalar reference returns; the 1.6-bit kernel multiplies
/// the same weights packed five per byte and must return the 2-bit reference's sums.
/// </summary>
public unsafe class KernelEquivalenceTests
{
    static readonly int[] Columns = [.. Enumerable.Range(1, 20), 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 200, 255, 256, 257, 299, 300, 511, 512, 513, 1000, 1024, 1025, 1280, 1536, 1537, 2816, 3072, 3073, 6912];
    static readonly int[] RowCounts = [1, 2, 3, 7, 16, 17, 64, 65];
    // The AVX and NEON-dot kernels run 8-token groups (a last group of 4-7 zero-padded) for rows up to K = 3072 and
    // 2 rows × 4 tokens beyond; single tokens are left over. Every remainder, one and several groups, and the 64-token
    // prefill batch with and without a remainder; K from 1 to 13 blocks and beyond.
    static readonly int[] Batches = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17, 24, 31, 64, 65];

    static readonly ScalarTernaryKernel Reference = new();

    /// <summary>Fills output space a kernel must not write.</summary>
    const int Canary = unchecked((int)0xDEADBEEF);

    /// <summary>The 2-bit kernels and, where the CPU has it, the 1.6-bit one.</summary>
    static readonly TernaryKernel[] All = [.. KernelFactory.Available, .. KernelFactory.FiveTritFor(KernelFactory.Available[0]) is { } fiveTrit ? [fiveTrit] : Array.Empty<TernaryKernel>()];

    public static TheoryData<string> KernelNames() => [.. All.Select(k => k.Name)];

    internal static TernaryKernel Find(string name) => All.Single(k => k.Name == name);

    /// <summary>An executor that runs <paramref name="kernel"/>'s layout with it (a 1.6-bit kernel beside the default 2-bit one).</summary>
    internal static TernaryExecutor ExecutorFor(TernaryKernel kernel, int threads) =>
        kernel.Layout == TensorType.Ternary2 ? new TernaryExecutor(kernel, threads) : new TernaryExecutor(KernelFactory.Available[0], threads, kernel);

    public enum WeightPattern { Random, AllZero, AllPlusOne, AllMinusOne }

    public enum ActivationPattern { Random, AllPlus127, AllMinus127, AllMinus128, Alternating }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void MatVecMatchesTheReferenceOnTheSweep(string kernelName)
    {
        var kernel = Find(kernelName);
        var rng = new Random(20261128);
        foreach (int k in Columns)
            foreach (int rows in RowCounts)
            {
                var weights = (WeightPattern)rng.Next(4);
                using var matrix = TestMatrix.Create(rows, k, weights, rng);
                foreach (var pattern in Enum.GetValues<ActivationPattern>())
                {
                    var x = Activations(k, 1, pattern, rng);
                    int sum = x.Sum(v => v);
                    var expected = new int[rows];
                    var actual = new int[rows];
                    Reference.MatVec(matrix.View, 0, x, sum, expected);
                    kernel.MatVec(matrix.For(kernel), 0, x, sum, actual);
                    Assert.True(expected.SequenceEqual(actual), $"{kernelName} MatVec K={k} N={rows} {weights}/{pattern}");
                }
            }
    }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void MatMulMatchesTheReferenceOnTheSweep(string kernelName)
    {
        var kernel = Find(kernelName);
        var rng = new Random(4242);
        // One set of buffers for the whole sweep: thousands of large short-lived arrays made the arm64 run under qemu
        // crash in the garbage collector.
        int maxBatch = Batches.Max(), maxRows = RowCounts.Max();
        var xBuffer = new sbyte[maxBatch * TernaryPacking.PaddedLength(Columns.Max())];
        var sumBuffer = new int[maxBatch];
        var expectedBuffer = new int[maxBatch * maxRows];
        var actualBuffer = new int[maxBatch * maxRows];
        foreach (int k in Columns)
            foreach (int rows in RowCounts)
                foreach (int n in Batches)
                {
                    var weights = (WeightPattern)rng.Next(4);
                    var pattern = (ActivationPattern)rng.Next(5);
                    using var matrix = TestMatrix.Create(rows, k, weights, rng);
                    int kPad = matrix.View.PaddedColumns;
                    var x = xBuffer.AsSpan(0, n * kPad);
                    FillActivations(x, k, n, pattern, rng);
                    var sums = sumBuffer.AsSpan(0, n);
                    for (int b = 0; b < n; b++)
                    {
                        int sum = 0;
                        foreach (sbyte v in x.Slice(b * kPad, kPad))
                            sum += v;
                        sums[b] = sum;
                    }
                    var expected = expectedBuffer.AsSpan(0, n * rows);
                    var actual = actualBuffer.AsSpan(0, n * rows);
                    actualBuffer.AsSpan().Fill(Canary);
                    Reference.MatMul(matrix.View, 0, rows, x, sums, n, expected, rows);
                    kernel.MatMul(matrix.For(kernel), 0, rows, x, sums, n, actual, rows);
                    Assert.True(expected.SequenceEqual(actual), $"{kernelName} MatMul K={k} N={rows} n={n} {weights}/{pattern}");
                    Assert.True(actualBuffer.AsSpan(n * rows).IndexOfAnyExcept(Canary) < 0, $"{kernelName} MatMul K={k} N={rows} n={n} wrote past its output");
                }
    }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void RowRangesAndOutputStridesAreHonoured(string kernelName)
    {
        var kernel = Find(kernelName);
        var rng = new Random(77);
        const int rows = 37, k = 513, n = 5, yStride = 29;
        using var matrix = TestMatrix.Create(rows, k, WeightPattern.Random, rng);
        var x = Activations(k, n, ActivationPattern.Random, rng);
        var sums = Sums(x, n, matrix.View.PaddedColumns);
        var full = new int[n * rows];
        Reference.MatMul(matrix.View, 0, rows, x, sums, n, full, rows);
        foreach (int rowStart in new[] { 0, 1, 3, 16, 20 })
        {
            int count = Math.Min(17, rows - rowStart);
            var vector = Enumerable.Repeat(-1, count + 2).ToArray();
            kernel.MatVec(matrix.For(kernel), rowStart, x.AsSpan(0, matrix.View.PaddedColumns), sums[0], vector.AsSpan(1, count));
            Assert.Equal(-1, vector[0]);
            Assert.Equal(-1, vector[^1]);
            Assert.Equal(full.AsSpan(rowStart, count).ToArray(), vector.AsSpan(1, count).ToArray());

            var batch = Enumerable.Repeat(-1, n * yStride).ToArray();
            kernel.MatMul(matrix.For(kernel), rowStart, count, x, sums, n, batch, yStride);
            for (int b = 0; b < n; b++)
            {
                Assert.Equal(full.AsSpan(b * rows + rowStart, count).ToArray(), batch.AsSpan(b * yStride, count).ToArray());
                Assert.All(batch.AsSpan(b * yStride + count, yStride - count).ToArray(), v => Assert.Equal(-1, v));
            }
        }
    }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void MisSizedBuffersAreRejected(string kernelName)
    {
        var kernel = Find(kernelName);
        using var matrix = TestMatrix.Create(4, 300, WeightPattern.Random, new Random(1));
        var x = new sbyte[matrix.View.PaddedColumns];
        Assert.Throws<ArgumentException>(() => kernel.MatVec(matrix.For(kernel), 0, x.AsSpan(0, 300), 0, new int[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => kernel.MatVec(matrix.For(kernel), 1, x, 0, new int[4]));
        Assert.Throws<ArgumentException>(() => kernel.MatMul(matrix.For(kernel), 0, 4, x, [0, 0], 2, new int[8], 4));
        Assert.Throws<ArgumentException>(() => kernel.MatMul(matrix.For(kernel), 0, 4, new sbyte[2 * x.Length], [0, 0], 2, new int[7], 4));
    }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void AMatrixOfTheOtherLayoutIsRejected(string kernelName)
    {
        var kernel = Find(kernelName);
        using var matrix = TestMatrix.Create(4, 300, WeightPattern.Random, new Random(2));
        var other = kernel.Layout == TensorType.Ternary2 ? matrix.FiveTrit : matrix.View;
        var x = new sbyte[matrix.View.PaddedColumns];
        Assert.Throws<ArgumentException>(() => kernel.MatVec(other, 0, x, 0, new int[4]));
        Assert.Throws<ArgumentException>(() => kernel.MatMul(other, 0, 4, [.. x, .. x], [0, 0], 2, new int[8], 4));
    }

    [Theory]
    [InlineData(3072)] // the longest row of the AVX eight-token batched paths
    [InlineData(8192)] // every other path
    public void TheOverflowBoundIsReachedExactly(int k)
    {
        // All weights +1 against all -128: every 16-bit pair sum is -512, the most negative a kernel can see (-2048 in
        // the accumulators of in-place masked codes, 4·code), and a long row makes every int16 stage fill to its limit
        // before widening.
        using var matrix = TestMatrix.Create(3, k, WeightPattern.AllPlusOne, new Random(5));
        var x = Enumerable.Repeat((sbyte)-128, k).ToArray();
        foreach (var kernel in All)
        {
            var y = new int[3];
            kernel.MatVec(matrix.For(kernel), 0, x, -128 * k, y);
            Assert.All(y, v => Assert.Equal(-128 * k, v));

            // The batched paths have their own int16 accumulators: 3 rows (a pair and a single row) × 13 tokens (groups
            // of eight and of four, a zero-padded group, single-token remainders) reach each of them.
            const int n = 13;
            var batch = new int[n * 3];
            kernel.MatMul(matrix.For(kernel), 0, 3, [.. Enumerable.Repeat((sbyte)-128, n * k)], [.. Enumerable.Repeat(-128 * k, n)], n, batch, 3);
            Assert.All(batch, v => Assert.Equal(-128 * k, v));
        }
    }

    internal static sbyte[] Activations(int k, int n, ActivationPattern pattern, Random rng)
    {
        var x = new sbyte[n * TernaryPacking.PaddedLength(k)];
        FillActivations(x, k, n, pattern, rng);
        return x;
    }

    /// <summary>n vectors of K activations, each padded with zeros to whole blocks.</summary>
    static void FillActivations(Span<sbyte> x, int k, int n, ActivationPattern pattern, Random rng)
    {
        int kPad = TernaryPacking.PaddedLength(k);
        x[..(n * kPad)].Clear();
        for (int b = 0; b < n; b++)
            for (int i = 0; i < k; i++)
                x[b * kPad + i] = pattern switch
                {
                    ActivationPattern.AllPlus127 => 127,
                    ActivationPattern.AllMinus127 => -127,
                    ActivationPattern.AllMinus128 => -128,
                    ActivationPattern.Alternating => (i & 1) == 0 ? (sbyte)127 : (sbyte)-128,
                    _ => (sbyte)rng.Next(-128, 128),
                };
    }

    internal static int[] Sums(sbyte[] x, int n, int kPad)
    {
        var sums = new int[n];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < kPad; i++)
                sums[b] += x[b * kPad + i];
        return sums;
    }

    /// <summary>
    /// A packed matrix in unmanaged memory, 64-byte aligned like a mapped model tensor, in both layouts: the 2-bit
    /// <see cref="View"/> (what the reference reads) and the same weights five per byte.
    /// </summary>
    internal sealed class TestMatrix : IDisposable
    {
        readonly byte* _twoBit, _fiveTrit;

        TestMatrix(byte* twoBit, byte* fiveTrit, int rows, int k)
        {
            _twoBit = twoBit;
            _fiveTrit = fiveTrit;
            View = new TernaryMatrix(twoBit, rows, k, 1f);
            FiveTrit = new TernaryMatrix(fiveTrit, rows, k, 1f, TensorType.TernaryFiveTrit);
        }

        public TernaryMatrix View { get; }

        public TernaryMatrix FiveTrit { get; }

        /// <summary>The matrix in the layout <paramref name="kernel"/> reads.</summary>
        public TernaryMatrix For(TernaryKernel kernel) => kernel.Layout == TensorType.TernaryFiveTrit ? FiveTrit : View;

        public static TestMatrix Create(int rows, int k, WeightPattern pattern, Random rng)
        {
            int rowBytes = TernaryPacking.RowBytes(k), fiveTritRowBytes = FiveTritPacking.RowBytes(k);
            var twoBit = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(rows * rowBytes), 64);
            var fiveTrit = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(rows * fiveTritRowBytes), 64);
            var t = new sbyte[k];
            for (int r = 0; r < rows; r++)
            {
                for (int i = 0; i < k; i++)
                    t[i] = pattern switch
                    {
                        WeightPattern.AllZero => 0,
                        WeightPattern.AllPlusOne => 1,
                        WeightPattern.AllMinusOne => -1,
                        _ => (sbyte)rng.Next(-1, 2),
                    };
                TernaryPacking.PackRow(t, new Span<byte>(twoBit + (long)r * rowBytes, rowBytes));
                FiveTritPacking.PackRow(t, new Span<byte>(fiveTrit + (long)r * fiveTritRowBytes, fiveTritRowBytes));
            }
            return new TestMatrix(twoBit, fiveTrit, rows, k);
        }

        public void Dispose()
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(_twoBit);
            System.Runtime.InteropServices.NativeMemory.AlignedFree(_fiveTrit);
        }
    }
}
