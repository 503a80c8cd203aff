using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Edge.Runtime.Kernels;

/// <summary>
/// Runs a kernel over whole matrices, splitting the rows across a persistent pool of worker threads. The model
/// only ever calls <see cref="MatMul"/>.
/// </summary>
/// <remarks>
/// A 1024×1024 product takes about 10 µs, so the hand-off must cost well under a microsecond: the workers are
/// created once, spin on a generation counter for <see cref="SpinTime"/> after each job (decode issues the next
/// product within microseconds) and only then sleep on a semaphore. Rows are split statically into one contiguous
/// range per thread, in multiples of <see cref="RowGranule"/> so no two threads write the same cache line of the
/// output; the calling thread takes the first range itself. A call allocates nothing. One call at a time: an
/// executor belongs to one model.
/// </remarks>
public sealed unsafe class TernaryExecutor : IDisposable
{
    /// <summary>Rows per partition step: 16 int32 outputs are one 64-byte cache line.</summary>
    public const int RowGranule = 16;

    static readonly long SpinTime = Stopwatch.Frequency / 5000; // 200 µs

    readonly Worker[] _workers;
    long _generation;
    int _pending;
    volatile bool _stopping;
    ExceptionDispatchInfo? _failure;

    // The current job; written by the caller before the generation is bumped, read by the workers after.
    TernaryMatrix _matrix;
    sbyte* _x;
    int* _xSums;
    int _n;
    int* _y;
    int _rowsPerPart;

    public TernaryExecutor(TernaryKernel kernel, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Kernel = kernel;
        Threads = threads;
        _workers = new Worker[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            var worker = new Worker(this, i + 1);
            _workers[i] = worker;
            worker.Thread.Start();
        }
    }

    public TernaryKernel Kernel { get; }

    /// <summary>Threads that run a product, the caller included; 1 runs everything inline.</summary>
    public int Threads { get; }

    /// <summary>
    /// One thread per physical core: SMT siblings share the core's SIMD units and its memory bandwidth, so a
    /// second thread per core only adds hand-off cost. Reads the Linux CPU topology; elsewhere, or if it cannot be
    /// read, every logical processor counts.
    /// </summary>
    public static int DefaultThreads { get; } = PhysicalCores();

    /// <summary>y[b, 0..Rows) = W · x[b] for a batch of n activation vectors (see <see cref="TernaryKernel.MatMul"/>).</summary>
    public void MatMul(in TernaryMatrix w, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        int k = w.PaddedColumns, rows = w.Rows;
        if (x.Length < (long)n * k || xSums.Length < n || y.Length < (long)n * rows)
            throw new ArgumentException($"A batch of {n} needs {(long)n * k} activations, {n} sums and room for {(long)n * rows} outputs.");

        int rowsPerPart = (rows + Threads - 1) / Threads;
        rowsPerPart = (rowsPerPart + RowGranule - 1) / RowGranule * RowGranule;
        if (_workers.Length == 0 || rowsPerPart >= rows)
        {
            Run(w, 0, rows, x, xSums, n, y);
            return;
        }

        fixed (sbyte* px = x)
        fixed (int* pSums = xSums)
        fixed (int* py = y)
        {
            _matrix = w;
            _x = px;
            _xSums = pSums;
            _n = n;
            _y = py;
            _rowsPerPart = rowsPerPart;
            Volatile.Write(ref _pending, _workers.Length);
            Interlocked.Increment(ref _generation); // full fence: the job fields are visible before the new generation
            foreach (var worker in _workers)
                worker.WakeIfSleeping();

            RunPart(0);

            var spinner = new SpinWait();
            while (Volatile.Read(ref _pending) != 0)
                spinner.SpinOnce(sleep1Threshold: -1);
            _matrix = default;
            _x = null;
            _xSums = null;
            _y = null;
        }
        if (_failure is { } failure)
        {
            _failure = null;
            failure.Throw();
        }
    }

    void Run(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y)
    {
        if (n == 1)
            Kernel.MatVec(w, rowStart, x[..w.PaddedColumns], xSums[0], y.Slice(rowStart, rowCount));
        else
            Kernel.MatMul(w, rowStart, rowCount, x, xSums, n, y[rowStart..], w.Rows);
    }

    void RunPart(int part)
    {
        int rows = _matrix.Rows;
        int start = part * _rowsPerPart;
        if (start >= rows)
            return;
        int count = Math.Min(_rowsPerPart, rows - start);
        long k = _matrix.PaddedColumns;
        var x = new ReadOnlySpan<sbyte>(_x, checked((int)(_n * k)));
        var sums = new ReadOnlySpan<int>(_xSums, _n);
        var y = new Span<int>(_y, checked(_n * rows));
        Run(_matrix, start, count, x, sums, _n, y);
    }

    public void Dispose()
    {
        if (_stopping)
            return;
        _stopping = true;
        Interlocked.Increment(ref _generation);
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
        readonly int _part;
        readonly SemaphoreSlim _wake = new(0);
        int _sleeping;

        public Worker(TernaryExecutor owner, int part)
        {
            _owner = owner;
            _part = part;
            Thread = new Thread(Loop) { IsBackground = true, Name = $"edge-kernel-{part}" };
        }

        public Thread Thread { get; }

        /// <summary>Called after the generation was bumped; the exchange pairs with the worker's own in <see cref="WaitForJob"/>.</summary>
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
                try
                {
                    _owner.RunPart(_part);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref _owner._failure, ExceptionDispatchInfo.Capture(e), null);
                }
                Interlocked.Decrement(ref _owner._pending);
            }
        }

        long WaitForJob(long seen)
        {
            long spinUntil = Stopwatch.GetTimestamp() + SpinTime;
            while (true)
            {
                long generation = Volatile.Read(ref _owner._generation);
                if (generation != seen)
                    return generation;
                if (Stopwatch.GetTimestamp() < spinUntil)
                {
                    Thread.SpinWait(16);
                    continue;
                }
                Interlocked.Exchange(ref _sleeping, 1);
                generation = Volatile.Read(ref _owner._generation);
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
