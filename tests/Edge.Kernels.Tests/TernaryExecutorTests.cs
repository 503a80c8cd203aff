using System.Runtime.InteropServices;
using Edge.Runtime.Kernels;
using static Edge.Kernels.Tests.KernelEquivalenceTests;

namespace Edge.Kernels.Tests;

public partial class TernaryExecutorTests
{
    public static TheoryData<string> KernelNames() => KernelEquivalenceTests.KernelNames();

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void SplittingRowsAcrossThreadsChangesNothing(string kernelName)
    {
        var kernel = Find(kernelName);
        var rng = new Random(99);
        using var single = ExecutorFor(kernel, 1);
        using var two = ExecutorFor(kernel, 2);
        using var three = ExecutorFor(kernel, 3);
        foreach (int rows in new[] { 1, 15, 17, 33, 47, 101, 1001 })
            foreach (int n in new[] { 1, 3, 5 })
            {
                using var matrix = TestMatrix.Create(rows, 300, WeightPattern.Random, rng);
                var x = Activations(300, n, ActivationPattern.Random, rng);
                var sums = Sums(x, n, matrix.View.PaddedColumns);
                var expected = new int[n * rows];
                single.MatMul(matrix.For(kernel), x, sums, n, expected);
                foreach (var executor in new[] { two, three })
                {
                    var actual = new int[n * rows];
                    executor.MatMul(matrix.For(kernel), x, sums, n, actual);
                    Assert.True(expected.SequenceEqual(actual), $"{kernelName} rows={rows} n={n} threads={executor.Threads}");
                }
            }
    }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public unsafe void OneJobOfSeveralProductsEqualsEachProductAlone(string kernelName)
    {
        var kernel = Find(kernelName);
        var rng = new Random(17);
        (int Rows, int Columns)[] shapes = [(17, 300), (1001, 256), (64, 1000), (3, 40)];
        foreach (int n in new[] { 1, 3 })
        {
            var matrices = shapes.Select(s => TestMatrix.Create(s.Rows, s.Columns, WeightPattern.Random, rng)).ToArray();
            try
            {
                var xs = matrices.Select(m => Pinned(Activations(m.View.Columns, n, ActivationPattern.Random, rng))).ToArray();
                var sums = matrices.Select((m, i) => Pinned(Sums(xs[i], n, m.View.PaddedColumns))).ToArray();
                var expected = matrices.Select((m, i) =>
                {
                    var y = new int[n * m.View.Rows];
                    new ScalarTernaryKernel().MatMul(m.View, 0, m.View.Rows, xs[i], sums[i], n, y, m.View.Rows);
                    return y;
                }).ToArray();
                foreach (int threads in new[] { 1, 2, 3 })
                {
                    using var executor = ExecutorFor(kernel, threads);
                    var ys = matrices.Select(m => GC.AllocateArray<int>(n * m.View.Rows, pinned: true)).ToArray();
                    var products = new TernaryProduct[matrices.Length];
                    for (int i = 0; i < matrices.Length; i++)
                        fixed (sbyte* x = xs[i])
                        fixed (int* s = sums[i])
                        fixed (int* y = ys[i])
                            // Pinned arrays: the pointers stay valid. With the 1.6-bit kernel, every other product is
                            // 2-bit: one job mixes both layouts, each run by its own kernel.
                            products[i] = new TernaryProduct(i % 2 == 0 ? matrices[i].For(kernel) : matrices[i].View, x, s, y);
                    // Naming what comes next (here the same matrices, and a vector) only makes idle workers read it.
                    executor.MatMul(products, n, new Lookahead([.. products.Select(p => p.Matrix)], new float[1000]));
                    for (int i = 0; i < matrices.Length; i++)
                        Assert.True(expected[i].SequenceEqual(ys[i]), $"{kernelName} product {i} n={n} threads={threads}");
                }
            }
            finally
            {
                foreach (var m in matrices)
                    m.Dispose();
            }
        }
    }

    [Fact]
    public void AJobOfTooManyProductsIsRejected()
    {
        using var executor = new TernaryExecutor(KernelFactory.Default, 2);
        Assert.Throws<ArgumentException>(() => executor.MatMul(new TernaryProduct[TernaryExecutor.MaxProducts + 1], 1));
        Assert.Throws<ArgumentException>(() => new Lookahead(new TernaryMatrix[TernaryExecutor.MaxProducts + 1]));
    }

    [Fact]
    public unsafe void AnIdleWorkerReadsAheadExactlyTheStartOfTheCallersChunkOfTheUpcomingJob()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Page residency (mincore) is read on Linux only.");
        // The upcoming job: a 1024-row and an 11264-row matrix of 64-byte rows (K = 256), 64 KiB and 704 KiB in fresh
        // anonymous pages, which become resident only when read. Two threads split its 12288 rows in halves; the
        // caller's are rows 0-6143: all of the first matrix and rows 0-5119 of the second. The one worker reads the
        // first PrefetchBytes of them: the first matrix and the second's first 192 KiB. Nothing else may be touched.
        const int rowBytes = 64, firstRows = 1024, secondRows = 11264;
        int page = Environment.SystemPageSize;
        using var first = new FreshPages(firstRows * rowBytes);
        using var second = new FreshPages(secondRows * rowBytes);
        var next = new Lookahead([new(first.Pointer, firstRows, 256, 1f), new(second.Pointer, secondRows, 256, 1f)]);
        long readTo = TernaryExecutor.PrefetchBytes - firstRows * rowBytes; // in the second matrix

        var rng = new Random(8);
        using var matrix = TestMatrix.Create(1000, 256, WeightPattern.Random, rng);
        var x = Activations(256, 1, ActivationPattern.Random, rng);
        var sums = Sums(x, 1, 256);
        // The worker reads ahead only after running rows of the job: the caller's first call sleeps long enough for
        // the worker to wake and take its chunk.
        var kernel = new StallingKernel(new ScalarTernaryKernel(), stall: TimeSpan.FromMilliseconds(50)) { StallNextCallerCall = true };
        using var executor = new TernaryExecutor(kernel, 2);
        fixed (sbyte* px = x)
        fixed (int* ps = sums)
        {
            var y = GC.AllocateArray<int>(1000, pinned: true);
            fixed (int* py = y)
                executor.MatMul([new TernaryProduct(matrix.View, px, ps, py)], 1, next);
        }
        Assert.Contains(kernel.Rows, r => r.OnWorker);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!second.IsResident((readTo - 1) / page) && DateTime.UtcNow < deadline)
            Thread.Sleep(1);
        Assert.All(first.Residency(), Assert.True);
        var expected = Enumerable.Range(0, second.Pages).Select(p => p <= (readTo - 1) / page).ToArray();
        Assert.Equal(expected, second.Residency());
    }

    /// <summary>Anonymous memory never touched (no huge pages, which one read would map whole), and which of its pages are resident.</summary>
    sealed unsafe partial class FreshPages : IDisposable
    {
        readonly nuint _length;

        public FreshPages(int bytes)
        {
            _length = (nuint)bytes;
            Pages = (bytes + Environment.SystemPageSize - 1) / Environment.SystemPageSize;
            Pointer = (byte*)Mmap(null, _length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
            if (Pointer == (byte*)-1)
                throw new InvalidOperationException($"mmap failed: errno {Marshal.GetLastPInvokeError()}");
            Madvise(Pointer, _length, MadvNoHugePage); // best effort: fails harmlessly on kernels without huge pages
        }

        public byte* Pointer { get; }

        public int Pages { get; }

        public bool IsResident(long page) => Residency()[page];

        public bool[] Residency()
        {
            var vector = new byte[Pages];
            fixed (byte* v = vector)
                if (Mincore(Pointer, _length, v) != 0)
                    throw new InvalidOperationException($"mincore failed: errno {Marshal.GetLastPInvokeError()}");
            return [.. vector.Select(b => (b & 1) != 0)];
        }

        public void Dispose() => Munmap(Pointer, _length);

        const int ProtRead = 1, ProtWrite = 2, MapPrivate = 2, MapAnonymous = 0x20, MadvNoHugePage = 15;

        [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
        private static partial void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

        [LibraryImport("libc", EntryPoint = "munmap")]
        private static partial int Munmap(void* address, nuint length);

        [LibraryImport("libc", EntryPoint = "madvise")]
        private static partial int Madvise(void* address, nuint length, int advice);

        [LibraryImport("libc", EntryPoint = "mincore", SetLastError = true)]
        private static partial int Mincore(void* address, nuint length, byte* vector);
    }

    static T[] Pinned<T>(T[] values) where T : unmanaged
    {
        var pinned = GC.AllocateArray<T>(values.Length, pinned: true);
        values.CopyTo(pinned, 0);
        return pinned;
    }

    [Fact]
    public void SleepingWorkersWakeForTheNextProduct()
    {
        var rng = new Random(3);
        using var matrix = TestMatrix.Create(200, 256, WeightPattern.Random, rng);
        var x = Activations(256, 1, ActivationPattern.Random, rng);
        var sums = Sums(x, 1, 256);
        var expected = new int[200];
        new ScalarTernaryKernel().MatVec(matrix.View, 0, x, sums[0], expected);
        using var executor = new TernaryExecutor(KernelFactory.Default, 3);
        for (int round = 0; round < 4; round++)
        {
            // Longer than the workers' spin phase, so each round finds them blocked on their semaphores.
            Thread.Sleep(5);
            var y = new int[200];
            executor.MatMul(matrix.View, x, sums, 1, y);
            Assert.Equal(expected, y);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void RowsOfAStalledWorkerAreTakenByTheCallerEachRowOnce(int n)
    {
        // 1000 rows of 256 columns (64 bytes): two chunks of 512 and 488 rows, taken in pieces of a quarter of what is
        // left but at least 8 KiB · n (128·n rows); the worker stalls in its first piece, at most 128 rows.
        var rng = new Random(5);
        using var matrix = TestMatrix.Create(1000, 256, WeightPattern.Random, rng);
        var x = Activations(256, n, ActivationPattern.Random, rng);
        var sums = Sums(x, n, 256);
        var expected = new int[n * 1000];
        new ScalarTernaryKernel().MatMul(matrix.View, 0, 1000, x, sums, n, expected, 1000);
        var kernel = new StallingKernel(new ScalarTernaryKernel(), stall: TimeSpan.FromMilliseconds(200));
        using var executor = new TernaryExecutor(kernel, 2);
        executor.MatMul(matrix.View, x, sums, n, new int[n * 1000]); // the worker is now spinning, ready for a chunk
        kernel.Rows.Clear();
        kernel.StallNextWorkerCall = true;

        var y = new int[n * 1000];
        executor.MatMul(matrix.View, x, sums, n, y);

        Assert.Equal(expected, y);
        var timesComputed = new int[1000];
        foreach (var (_, start, count) in kernel.Rows)
            for (int r = start; r < start + count; r++)
                timesComputed[r]++;
        Assert.All(timesComputed, t => Assert.Equal(1, t));
        int byCaller = kernel.Rows.Where(r => !r.OnWorker).Sum(r => r.Count);
        Assert.True(byCaller >= 1000 - 128 * n, $"the caller ran {byCaller} of 1000 rows while the worker stalled in one piece");
    }

    /// <summary>
    /// Records which thread ran which rows; the first call on a worker after <see cref="StallNextWorkerCall"/> is set
    /// sleeps, and the first on the caller after <see cref="StallNextCallerCall"/> is.
    /// </summary>
    sealed class StallingKernel(TernaryKernel inner, TimeSpan stall) : TernaryKernel
    {
        public System.Collections.Concurrent.ConcurrentQueue<(bool OnWorker, int Start, int Count)> Rows { get; } = new();

        public volatile bool StallNextWorkerCall;

        public volatile bool StallNextCallerCall;

        public override string Name => inner.Name;

        public override string Description => inner.Description;

        public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y)
        {
            inner.MatVec(w, rowStart, x, xSum, y);
            Record(rowStart, y.Length);
        }

        public override void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride)
        {
            inner.MatMul(w, rowStart, rowCount, x, xSums, n, y, yStride);
            Record(rowStart, rowCount);
        }

        void Record(int start, int count)
        {
            bool onWorker = Thread.CurrentThread.Name?.StartsWith("edge-kernel", StringComparison.Ordinal) == true;
            if (onWorker && StallNextWorkerCall)
            {
                StallNextWorkerCall = false;
                Thread.Sleep(stall);
            }
            if (!onWorker && StallNextCallerCall)
            {
                StallNextCallerCall = false;
                Thread.Sleep(stall);
            }
            Rows.Enqueue((onWorker, start, count));
        }
    }

    [Fact]
    public void ADisposedExecutorRefusesWork()
    {
        var executor = new TernaryExecutor(KernelFactory.Default, 2);
        executor.Dispose();
        executor.Dispose();
        using var matrix = TestMatrix.Create(64, 256, WeightPattern.Random, new Random(1));
        Assert.Throws<ObjectDisposedException>(() => executor.MatMul(matrix.View, new sbyte[256], [0], 1, new int[64]));
    }

    [Fact]
    public void TooSmallBuffersAreRejected()
    {
        using var executor = new TernaryExecutor(KernelFactory.Default, 2);
        using var matrix = TestMatrix.Create(64, 256, WeightPattern.Random, new Random(1));
        Assert.Throws<ArgumentException>(() => executor.MatMul(matrix.View, new sbyte[256], [0, 0], 2, new int[128]));
        Assert.Throws<ArgumentException>(() => executor.MatMul(matrix.View, new sbyte[256], [0], 1, new int[63]));
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 1)]
    [InlineData(5, 8)]     // fewer items than a grain: one chunk
    [InlineData(64, 1)]    // one token per chunk
    [InlineData(304, 128)] // two chunks, the last with the remainder
    [InlineData(1000, 7)]
    public void ForCoversEveryItemOnceInChunksThatDoNotDependOnTheThreadCount(int count, int grain)
    {
        List<(int Start, int End)>? reference = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var executor = new TernaryExecutor(KernelFactory.Default, threads);
            for (int round = 0; round < 3; round++)
            {
                var seen = new int[count];
                var chunks = new System.Collections.Concurrent.ConcurrentBag<(int, int)>();
                var badThread = 0;
                executor.For(count, grain, (start, end, thread) =>
                {
                    chunks.Add((start, end));
                    if (thread < 0 || thread >= threads)
                        Interlocked.Increment(ref badThread);
                    for (int i = start; i < end; i++)
                        Interlocked.Increment(ref seen[i]);
                });
                Assert.All(seen, v => Assert.Equal(1, v));
                Assert.Equal(0, badThread);
                var sorted = chunks.Order().ToList();
                Assert.All(sorted.SkipLast(1), c => Assert.Equal(grain, c.Item2 - c.Item1));
                Assert.All(sorted, c => Assert.InRange(c.Item2 - c.Item1, 1, count < 2 * grain ? count : 2 * grain - 1));
                reference ??= sorted;
                Assert.Equal(reference, sorted);
            }
        }
    }

    [Fact]
    public void AnExceptionInAForChunkReachesTheCallerAndTheExecutorStaysUsable()
    {
        using var executor = new TernaryExecutor(KernelFactory.Default, 2);
        var error = Assert.Throws<InvalidOperationException>(() => executor.For(8, 1, (start, _, _) =>
        {
            if (start == 5)
                throw new InvalidOperationException("chunk 5");
        }));
        Assert.Equal("chunk 5", error.Message);
        int total = 0;
        executor.For(8, 1, (start, end, _) => Interlocked.Add(ref total, end - start));
        Assert.Equal(8, total);
    }

    [Fact]
    public void TheDefaultThreadCountIsAtLeastOneAndAtMostTheLogicalProcessors()
    {
        Assert.InRange(TernaryExecutor.DefaultThreads, 1, Environment.ProcessorCount);
    }
}
