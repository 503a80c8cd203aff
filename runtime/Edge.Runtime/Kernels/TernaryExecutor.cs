using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Edge.Format.Container;

namespace Edge.Runtime.Kernels;

/// <summary>
/// Runs a kernel over whole matrices, splitting the rows across a persistent pool of worker threads. One job may
/// hold several independent products (the model's i, f and g projections), so they cost one hand-off, not three.
/// The same pool runs the forward pass's element-wise work over a range (<see cref="For"/>), so prefill does not
/// leave the workers idle between products.
/// </summary>
/// <remarks>
/// A 1024×1024 product takes about 10 µs, so the hand-off must cost well under a microsecond: the workers are
/// created once, spin on the job word for <see cref="SpinTime"/> after each job (decode issues the next product
/// within microseconds) and only then sleep on a semaphore. A job's rows (all its products' rows, one after the
/// other) are cut into one equal chunk per thread, a multiple of <see cref="RowGranule"/> rows so no two threads
/// write the same cache line of the output; chunk t is thread t's (the caller is thread 0). One long chunk per
/// thread streams its weights from DRAM faster than several short ones (each new stream restarts the hardware
/// prefetcher). Equal chunks still finish apart (on a shared VM one thread's chunk can run slower than the other's,
/// and a descheduled worker stops altogether), so
/// a chunk's owner takes its rows from the bottom in pieces, and a thread with no rows of its own left steals pieces
/// from the top of the chunk with the most rows left: the owner's stream is never cut, and nobody waits while rows
/// remain. Since the chunks are known in advance, the idle workers read the start of the next job's chunks, and the
/// vectors the caller reads before it, when the caller names them (<see cref="Lookahead"/>), while the caller
/// prepares that job's input (<see cref="PrefetchUpcoming"/>).
/// A call allocates nothing. One call at a time: an executor belongs to one model.
/// </remarks>
internal sealed unsafe class TernaryExecutor : IDisposable
{
    /// <summary>Rows per partition step: 16 int32 outputs are one 64-byte cache line.</summary>
    public const int RowGranule = 16;

    /// <summary>Smallest chunk: below this the claim costs more than the rows.</summary>
    const int MinChunkRows = 4 * RowGranule;

    /// <summary>
    /// The smallest piece of a chunk a thread takes holds about this many bytes of weights per token of the batch:
    /// small enough that the two ends of a decode chunk meet within a short piece (8 KiB streams in well under a
    /// microsecond), large enough that a batched kernel's per-call set-up (packing the activations) is amortized.
    /// </summary>
    const int MinPieceBytes = 8192;

    /// <summary>Granules a chunk's range word can count (20 bits each for its first and end granule).</summary>
    const int MaxGranules = 1 << 20;

    /// <summary>Longs between two chunks' range words: 128 bytes, so no two share a line or an adjacent-line pair.</summary>
    const int RangeStride = 16;

    static readonly long SpinTime = Stopwatch.Frequency / 5000; // 200 µs

    readonly Worker[] _workers;
    volatile bool _stopping;
    ExceptionDispatchInfo? _failure;

    /// <summary>
    /// The job word: generation (bits 32-63) and, for a range job, chunk count (16-31) and next unclaimed chunk
    /// (0-15). Claims compare and swap the whole word, so a claim that raced with the end of its job can never run a
    /// chunk of the next one.
    /// </summary>
    long _job;

    /// <summary>Rows (product jobs) or chunks (range jobs) finished.</summary>
    int _done;

    /// <summary>
    /// Per chunk of a product job, at [chunk · RangeStride]: the granules not yet taken, as generation (bits 40-63),
    /// first (20-39) and end (0-19). The owner advances first, thieves lower end, both by compare-and-swap of the
    /// whole word, so a piece is taken once, and not from a later job's chunk (a thread would have to stall between
    /// reading the word and swapping it for 2^24 jobs, minutes of decoding, for the generation to match again).
    /// </summary>
    readonly long[] _ranges;

    /// <summary>Products one job can hold.</summary>
    public const int MaxProducts = 4;

    // The current job; written by the caller before the job word is published, stable until all chunks are done.
    readonly TernaryProduct[] _products = new TernaryProduct[MaxProducts];
    readonly int[] _firstGranule = new int[MaxProducts + 1]; // product p's rows are the job's granules [_firstGranule[p], _firstGranule[p+1])
    int _chunkGranules, _chunkCount, _minPieceGranules;
    int _productCount;
    int _n;
    Lookahead? _next;
    int _prefetchSink; // keeps the prefetch loads from being optimized away

    /// <summary>
    /// Most bytes the workers together read ahead of a job, shared equally: more than a decode gap lets them read at
    /// this machine's bandwidth (about 5 µs at 27 GB/s), and half of the smallest L2 that may hold them (a Pi 3's).
    /// </summary>
    public const int PrefetchBytes = 256 * 1024;
    // Or the current range job: [0, _count) in chunks of _grain items, the last one taking the remainder.
    RangeAction? _action;
    int _count, _grain, _rangeChunks;

    /// <summary>Work on items [start, end) by thread <paramref name="thread"/> (0 is the caller, 1.. the workers).</summary>
    public delegate void RangeAction(int start, int end, int thread);

    /// <param name="kernel">The kernel for 2-bit matrices.</param>
    /// <param name="fiveTritKernel">The kernel for 1.6-bit matrices, if the model has any (<see cref="KernelFactory.FiveTritFor"/>).</param>
    public TernaryExecutor(TernaryKernel kernel, int threads = 1, TernaryKernel? fiveTritKernel = null)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (threads < 1 || threads > MaxThreads)
            throw new ArgumentException($"{threads} worker threads is out of range: give 1 to {MaxThreads} (this machine has {Environment.ProcessorCount} logical cores).", nameof(threads));
        if (kernel.Layout != TensorType.Ternary2)
            throw new ArgumentException($"{kernel.Name} reads {kernel.Layout} matrices; the first kernel must read 2-bit ones.", nameof(kernel));
        if (fiveTritKernel != null && fiveTritKernel.Layout != TensorType.TernaryFiveTrit)
            throw new ArgumentException($"{fiveTritKernel.Name} does not read 1.6-bit matrices.", nameof(fiveTritKernel));
        Kernel = kernel;
        FiveTritKernel = fiveTritKernel;
        Threads = threads;
        _workers = new Worker[threads - 1];
        _ranges = new long[threads * RangeStride];
        for (int i = 0; i < _workers.Length; i++)
        {
            var worker = new Worker(this, i + 1);
            _workers[i] = worker;
            worker.Thread.Start();
        }
    }

    public TernaryKernel Kernel { get; }

    /// <summary>The kernel for <see cref="TensorType.TernaryFiveTrit"/> matrices; null if there is none (then such a matrix is an error).</summary>
    public TernaryKernel? FiveTritKernel { get; }

    /// <summary>"avx2", or "avx2 + 1.6bit-vbmi" with a five-trit kernel: what a benchmark or log should name.</summary>
    public string KernelNames => FiveTritKernel is { } fiveTrit ? $"{Kernel.Name} + {fiveTrit.Name}" : Kernel.Name;

    /// <summary>Threads that run a product, the caller included; 1 runs everything inline.</summary>
    public int Threads { get; }

    /// <summary>
    /// Whether idle workers read ahead what a <see cref="MatMul(ReadOnlySpan{TernaryProduct}, int, Lookahead?)"/> names
    /// (on by default; off to measure what it gains, docs/PERFORMANCE.md, "Decode and prefill per thread count").
    /// </summary>
    public bool PrefetchUpcoming { get; set; } = true;

    /// <summary>An accelerator consulted before the kernel; null runs everything on the CPU.</summary>
    public ITernaryOffload? Offload { get; set; }

    /// <summary>
    /// One thread per physical core: SMT siblings share the core's SIMD units and its memory bandwidth, so a
    /// second thread per core only adds hand-off cost. Reads the Linux CPU topology; elsewhere, or if it cannot be
    /// read, every logical processor counts.
    /// </summary>
    public static int DefaultThreads { get; } = PhysicalCores();

    /// <summary>
    /// The most workers an executor starts: beyond a few per core they only wait for each other, and thousands
    /// exhaust the process's memory for stacks (the runtime then aborts instead of throwing).
    /// </summary>
    public static int MaxThreads { get; } = Math.Max(64, 4 * Environment.ProcessorCount);

    /// <summary>y[b, 0..Rows) = W · x[b] for a batch of n activation vectors (see <see cref="TernaryKernel.MatMul"/>).</summary>
    public void MatMul(in TernaryMatrix w, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        int k = w.PaddedColumns, rows = w.Rows;
        if (x.Length < (long)n * k || xSums.Length < n || y.Length < (long)n * rows)
            throw new ArgumentException($"A batch of {n} needs {(long)n * k} activations, {n} sums and room for {(long)n * rows} outputs.");
        fixed (sbyte* px = x)
        fixed (int* pSums = xSums)
        fixed (int* py = y)
        {
            var product = new TernaryProduct(w, px, pSums, py);
            MatMul(new ReadOnlySpan<TernaryProduct>(in product), n);
        }
    }

    /// <summary>
    /// Runs up to <see cref="MaxProducts"/> independent products on the same batch size n as one job: the rows of
    /// all of them are split across the threads together.
    /// </summary>
    /// <param name="next">
    /// What the caller runs after this job, if it knows: idle workers read it ahead while the caller prepares the next
    /// job's input (<see cref="PrefetchUpcoming"/>).
    /// </param>
    public void MatMul(ReadOnlySpan<TernaryProduct> products, int n, Lookahead? next = null)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (products.Length > MaxProducts)
            throw new ArgumentException($"A job holds at most {MaxProducts} products; got {products.Length}.", nameof(products));
        _next = PrefetchUpcoming ? next : null;

        int count = 0, granules = 0, rowsTotal = 0, narrowestRow = int.MaxValue;
        foreach (var product in products)
        {
            if (Offload is { } offload && TryOffload(offload, product, n))
                continue;
            int rows = product.Matrix.Rows;
            if (rows > (MaxGranules - 1 - granules) * RowGranule)
                throw new ArgumentException($"A job of more than {(MaxGranules - 1) * RowGranule} rows is more than the executor can split.", nameof(products));
            _products[count] = product;
            _firstGranule[count] = granules;
            granules += GranulesOf(rows);
            rowsTotal += rows;
            narrowestRow = Math.Min(narrowestRow, product.Matrix.RowBytes);
            count++;
        }
        _firstGranule[count] = granules;
        _productCount = count;
        _n = n;
        if (count == 0)
            return;
        // One chunk per thread over all the products' rows together: consecutive matrices (i, f and g lie one after
        // another in the file) then stream as one run of memory per thread instead of one per product.
        int chunkGranules = ChunkGranules(granules);
        int chunks = (granules + chunkGranules - 1) / chunkGranules;
        _chunkGranules = chunkGranules;
        _chunkCount = chunks;
        _minPieceGranules = (int)Math.Clamp((long)MinPieceBytes * n / RowGranule / narrowestRow, 1, MaxGranules);
        if (_workers.Length == 0 || chunks == 1)
        {
            for (int p = 0; p < count; p++)
                RunRows(_products[p], 0, _products[p].Matrix.Rows);
            return;
        }

        RunJob(chunks, rowsTotal);
    }

    static int GranulesOf(int rows) => (rows + RowGranule - 1) / RowGranule;

    /// <summary>Granules per chunk of a job of <paramref name="granules"/>: one chunk per thread, none too small to be worth a claim.</summary>
    int ChunkGranules(int granules) => Math.Max(MinChunkRows / RowGranule, (granules + Threads - 1) / Threads);

    /// <summary>
    /// Runs <paramref name="action"/> over [0, <paramref name="count"/>) on all threads, in chunks of
    /// <paramref name="grain"/> items (the last chunk takes the remainder, so every chunk but a lone one has at
    /// least <paramref name="grain"/> items). The chunks do not depend on the thread count, so neither does the
    /// result; with one chunk or one thread the caller runs them in order. Allocates nothing.
    /// </summary>
    public void For(int count, int grain, RangeAction action)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(grain, 1);
        ArgumentNullException.ThrowIfNull(action);
        if (count == 0)
            return;
        if (count / grain > 0xFFFF) // the job word counts chunks in 16 bits
            grain = (count + 0xFFFE) / 0xFFFF;
        int chunks = Math.Max(1, count / grain);
        if (_workers.Length == 0 || chunks == 1)
        {
            for (int c = 0; c < chunks; c++)
                action(c * grain, c == chunks - 1 ? count : (c + 1) * grain, 0);
            return;
        }
        _action = action;
        _count = count;
        _grain = grain;
        _rangeChunks = chunks;
        try
        {
            RunJob(chunks, chunks);
        }
        finally
        {
            _action = null;
        }
    }

    /// <summary>
    /// Publishes the job set up in the fields, runs chunks on the caller too, and waits until <paramref name="target"/>
    /// rows (product jobs) or chunks (range jobs) are done.
    /// </summary>
    void RunJob(int chunks, int target)
    {
        _done = 0;
        long generation = (_job >> 32) + 1;
        if (_action is null)
            for (int c = 0; c < chunks; c++)
            {
                _ranges[c * RangeStride] = PackRange(generation, c * _chunkGranules, Math.Min((c + 1) * _chunkGranules, _firstGranule[_productCount]));
            }
        long job = (generation << 32) | (_action is null ? 0 : (long)chunks << 16);
        Interlocked.Exchange(ref _job, job); // full fence: the fields above are visible before the job is
        foreach (var worker in _workers)
            worker.WakeIfSleeping();

        RunChunks(generation, 0);

        // The other threads' chunks end within microseconds of this one's: spin without yielding first (a yield is
        // a system call and a trip through the scheduler), and yield only if a worker lost its core (busy machine).
        long yieldAfter = Stopwatch.GetTimestamp() + SpinTime / 4;
        var spinner = new SpinWait();
        while (Volatile.Read(ref _done) != target)
        {
            if (Stopwatch.GetTimestamp() < yieldAfter)
                Thread.SpinWait(1);
            else
                spinner.SpinOnce(sleep1Threshold: -1);
        }
        Array.Clear(_products);
        if (_failure is { } failure)
        {
            _failure = null;
            failure.Throw();
        }
    }

    static bool TryOffload(ITernaryOffload offload, in TernaryProduct product, int n)
    {
        var w = product.Matrix;
        return offload.TryMatMul(w, new ReadOnlySpan<sbyte>(product.X, checked(n * w.PaddedColumns)),
            new ReadOnlySpan<int>(product.XSums, n), n, new Span<int>(product.Y, checked(n * w.Rows)));
    }

    /// <summary>
    /// Runs this thread's part of job <paramref name="generation"/>. A range job: claims chunks until none are left.
    /// A product job: runs chunk <paramref name="thread"/> (its own, fixed so that the chunks of a job are known
    /// before it starts), then steals pieces of the chunks still running. Returns what the caller runs next, for a
    /// worker that ran rows of a job that named it (null otherwise, and for the caller).
    /// </summary>
    Lookahead? RunChunks(long generation, int thread)
    {
        if (_action is not null)
        {
            RunRangeChunks(generation, thread);
            return null;
        }
        int rowsDone = 0;
        // Read before any claim, so possibly of a later job: bounded, and a chunk of another job fails the generation test.
        if (thread < _chunkCount)
            rowsDone += RunOwnPieces(thread, generation);
        rowsDone += StealPieces(generation);
        if (rowsDone == 0)
            return null;
        // This thread's rows are not counted yet, so the job is not done: the caller is waiting, the fields are stable.
        var next = thread > 0 ? _next : null;
        Interlocked.Add(ref _done, rowsDone);
        return next;
    }

    /// <summary>Claims and runs chunks of range job <paramref name="generation"/> until none are left.</summary>
    void RunRangeChunks(long generation, int thread)
    {
        while (true)
        {
            long job = Volatile.Read(ref _job);
            int next = (int)(job & 0xFFFF), chunks = (int)((job >> 16) & 0xFFFF);
            if (job >> 32 != generation || next >= chunks)
                return;
            if (Interlocked.CompareExchange(ref _job, job + 1, job) != job)
                continue;
            // The claim succeeded, so the job is still this one and its fields are stable.
            int first = next * _grain;
            try
            {
                _action!(first, next == _rangeChunks - 1 ? _count : first + _grain, thread);
            }
            catch (Exception e)
            {
                Fail(e);
            }
            Interlocked.Increment(ref _done);
        }
    }

    /// <summary>
    /// Reads into this core's caches, while the caller prepares the next job: for the first worker, the caller's
    /// vectors; then the first rows of chunk <paramref name="thread"/> − 1 of the next job (the caller's for the first
    /// worker; at most this worker's share of <see cref="PrefetchBytes"/>). Stops as soon as a job other than
    /// <paramref name="generation"/> appears. Decode leaves the workers idle during that serial work (about an eighth
    /// of a token); the products are bound by the memory's bandwidth, so bytes read then come off them, and the
    /// caller finds its vectors in a neighbouring cache instead of DRAM. The caller's chunk is the one that would
    /// start cold, so it is the one read ahead: a worker reading its own chunk instead gains less, because its loads
    /// compete with the caller's serial work (docs/kernels.md, "Threads").
    /// </summary>
    void Prefetch(Lookahead next, int thread, long generation)
    {
        int sink = 0;
        if (thread == 1)
            foreach (var vector in next.Vectors)
            {
                if (Volatile.Read(ref _job) >> 32 != generation)
                    break;
                for (int i = 0; i < vector.Length; i += 64 / sizeof(float))
                    sink += BitConverter.SingleToInt32Bits(vector[i]);
            }

        var matrices = next.Matrices;
        int granules = 0;
        foreach (var m in matrices)
            granules += GranulesOf(m.Rows);
        int chunkGranules = ChunkGranules(granules), first = (thread - 1) * chunkGranules, end = Math.Min(first + chunkGranules, granules);
        long budget = PrefetchBytes / _workers.Length;
        int matrixFirst = 0;
        foreach (var m in matrices)
        {
            int from = Math.Max(first, matrixFirst), to = Math.Min(end, matrixFirst + GranulesOf(m.Rows));
            int startRow = (from - matrixFirst) * RowGranule, rows = Math.Min((to - matrixFirst) * RowGranule, m.Rows) - startRow;
            matrixFirst += GranulesOf(m.Rows);
            if (rows <= 0)
                continue;
            long bytes = Math.Min(budget, (long)rows * m.RowBytes);
            byte* data = m.Data + (long)startRow * m.RowBytes;
            // One load per cache line; the hardware prefetcher follows the stream. The check costs little per 4 KiB.
            for (long line = 0; line < bytes; line += 64)
            {
                if ((line & 4095) == 0 && Volatile.Read(ref _job) >> 32 != generation)
                {
                    _prefetchSink = sink;
                    return;
                }
                sink += data[line];
            }
            budget -= bytes;
            if (budget <= 0)
                break;
        }
        _prefetchSink = sink;
    }

    /// <summary>Runs the chunk's pieces from its first granule up until a thief meets it; returns the rows run.</summary>
    int RunOwnPieces(int chunk, long generation)
    {
        ref long range = ref _ranges[chunk * RangeStride];
        int minPiece = _minPieceGranules, rows = 0;
        while (true)
        {
            long seen = Volatile.Read(ref range);
            var (first, end) = UnpackRange(seen);
            if (!IsOfGeneration(seen, generation) || first >= end)
                return rows;
            int taken = first + Piece(first, end, minPiece);
            if (Interlocked.CompareExchange(ref range, PackRange(generation, taken, end), seen) == seen)
                rows += RunGranules(first, taken);
        }
    }

    /// <summary>
    /// Takes pieces of the chunk with the most granules left until none are: from the top, or from the bottom while
    /// its owner has not begun (as one claim of the whole chunk would); returns the rows run.
    /// </summary>
    int StealPieces(long generation)
    {
        // Read before any claim, so possibly of a later job: bounded, and a chunk of another job fails the generation test.
        int rows = 0, chunks = Math.Min(_chunkCount, _ranges.Length / RangeStride);
        int victim = -1, bottom = -1;
        while (true)
        {
            if (victim < 0)
            {
                for (int c = 0, most = 0; c < chunks; c++)
                {
                    int left = RangeLeft(c, generation);
                    if (left > most)
                        (victim, most) = (c, left);
                }
                if (victim < 0)
                    return rows;
                bottom = victim * _chunkGranules; // the chunk's first granule: if nobody took it yet, its owner has not begun
            }
            ref long range = ref _ranges[victim * RangeStride];
            long seen = Volatile.Read(ref range);
            var (first, end) = UnpackRange(seen);
            if (!IsOfGeneration(seen, generation) || first >= end)
            {
                victim = -1; // emptied: look for the next busiest chunk
                continue;
            }
            if (first == bottom)
            {
                // Its owner has not begun (late, or descheduled): go on from the bottom, as the owner would, so this
                // thread's stream continues in ascending order; the owner, once there, takes from the bottom too and
                // this thread moves to the top.
                int taken = first + Piece(first, end, _minPieceGranules);
                if (Interlocked.CompareExchange(ref range, PackRange(generation, taken, end), seen) == seen)
                {
                    rows += RunGranules(first, taken);
                    bottom = taken;
                }
                continue;
            }
            int start = end - Piece(first, end, _minPieceGranules);
            if (Interlocked.CompareExchange(ref range, PackRange(generation, first, start), seen) == seen)
                rows += RunGranules(start, end);
        }
    }

    /// <summary>
    /// Granules to take from [first, end): a quarter of what is left, at least the smallest piece, so a chunk costs a
    /// handful of claims and kernel calls while its owner is alone (small pieces throughout slow the products with
    /// calls and claims), and the two ends meet within a small piece.
    /// </summary>
    static int Piece(int first, int end, int minPiece) => Math.Min(end - first, Math.Max(minPiece, (end - first) / 4));

    int RangeLeft(int chunk, long generation)
    {
        long seen = Volatile.Read(ref _ranges[chunk * RangeStride]);
        var (first, end) = UnpackRange(seen);
        return IsOfGeneration(seen, generation) ? Math.Max(0, end - first) : 0;
    }

    /// <summary>Runs the job's granules [first, end), product by product (each one's last granule clipped to its rows); returns the rows.</summary>
    int RunGranules(int first, int end)
    {
        int rows = 0;
        for (int p = 0; p < _productCount; p++)
        {
            int from = Math.Max(first, _firstGranule[p]), to = Math.Min(end, _firstGranule[p + 1]);
            if (from >= to)
                continue;
            int start = (from - _firstGranule[p]) * RowGranule;
            int count = Math.Min((to - _firstGranule[p]) * RowGranule, _products[p].Matrix.Rows) - start;
            try
            {
                RunRows(_products[p], start, count);
            }
            catch (Exception e)
            {
                Fail(e);
            }
            rows += count;
        }
        return rows;
    }

    /// <summary>Keeps the first failure of a job for the caller to throw; the failed work still counts as done.</summary>
    void Fail(Exception e) => Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);

    static long PackRange(long generation, int first, int end) => (generation & 0xFFFFFF) << 40 | (long)first << 20 | (uint)end;

    static (int First, int End) UnpackRange(long range) => ((int)(range >> 20) & (MaxGranules - 1), (int)range & (MaxGranules - 1));

    static bool IsOfGeneration(long range, long generation) => (range >>> 40) == (generation & 0xFFFFFF);

    void RunRows(in TernaryProduct product, int start, int count)
    {
        var w = product.Matrix;
        var kernel = KernelFor(w);
        int n = _n, rows = w.Rows, k = w.PaddedColumns;
        var x = new ReadOnlySpan<sbyte>(product.X, checked(n * k));
        var sums = new ReadOnlySpan<int>(product.XSums, n);
        var y = new Span<int>(product.Y, checked(n * rows));
        if (n == 1)
            kernel.MatVec(w, start, x, sums[0], y.Slice(start, count));
        else
            kernel.MatMul(w, start, count, x, sums, n, y[start..], rows);
    }

    TernaryKernel KernelFor(in TernaryMatrix w) =>
        w.Layout == TensorType.Ternary2 ? Kernel
        : FiveTritKernel ?? throw new InvalidOperationException($"This executor has no kernel for {w.Layout} matrices; load 1.6-bit models through EdgeModel.Load, which repacks them where no kernel reads them.");

    public void Dispose()
    {
        if (_stopping)
            return;
        _stopping = true;
        Interlocked.Add(ref _job, 1L << 32);
        foreach (var worker in _workers)
            worker.WakeIfSleeping();
        foreach (var worker in _workers)
            worker.Thread.Join();
        foreach (var worker in _workers)
            worker.Dispose();
    }

    static int PhysicalCores()
    {
        int logical = Environment.ProcessorCount;
        try
        {
            const string siblings = "/sys/devices/system/cpu/cpu0/topology/thread_siblings_list";
            if (!OperatingSystem.IsLinux() || !File.Exists(siblings))
                return logical;
            int perCore = 0;
            foreach (var range in File.ReadAllText(siblings).Trim().Split(','))
            {
                var ends = range.Split('-');
                perCore += ends.Length == 2 ? int.Parse(ends[1]) - int.Parse(ends[0]) + 1 : 1;
            }
            return Math.Max(1, logical / Math.Max(1, perCore));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            return logical;
        }
    }

    sealed class Worker : IDisposable
    {
        readonly TernaryExecutor _owner;
        readonly SemaphoreSlim _wake = new(0);
        int _sleeping;

        readonly int _index;

        public Worker(TernaryExecutor owner, int index)
        {
            _owner = owner;
            _index = index;
            Thread = new Thread(Loop) { IsBackground = true, Name = $"edge-kernel-{index}" };
        }

        public Thread Thread { get; }

        /// <summary>Called after a job was published; the exchange pairs with the worker's own in <see cref="WaitForJob"/>.</summary>
        public void WakeIfSleeping()
        {
            if (Interlocked.Exchange(ref _sleeping, 0) == 1)
                _wake.Release();
        }

        void Loop()
        {
            long seen = 0;
            while (true)
            {
                seen = WaitForJob(seen);
                if (_owner._stopping)
                    return;
                if (_owner.RunChunks(seen, _index) is { } next)
                    _owner.Prefetch(next, _index, seen);
            }
        }

        /// <summary>Waits until the job word carries a generation other than <paramref name="seen"/>, and returns it.</summary>
        long WaitForJob(long seen)
        {
            long spinUntil = Stopwatch.GetTimestamp() + SpinTime;
            while (true)
            {
                long generation = Volatile.Read(ref _owner._job) >> 32;
                if (generation != seen)
                    return generation;
                if (Stopwatch.GetTimestamp() < spinUntil)
                {
                    Thread.SpinWait(1);
                    continue;
                }
                Interlocked.Exchange(ref _sleeping, 1);
                generation = Volatile.Read(ref _owner._job) >> 32;
                if (generation != seen)
                {
                    // A job arrived while going to sleep. If the caller already took the flag, it has released
                    // (or will release) the semaphore once: consume that so the count stays at zero.
                    if (Interlocked.Exchange(ref _sleeping, 0) == 0)
                        _wake.Wait();
                    return generation;
                }
                _wake.Wait();
                spinUntil = Stopwatch.GetTimestamp() + SpinTime;
            }
        }

        public void Dispose() => _wake.Dispose();
    }
}
