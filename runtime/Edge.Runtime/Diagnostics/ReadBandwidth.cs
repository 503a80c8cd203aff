using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Edge.Format.Container;

namespace Edge.Runtime.Diagnostics;

/// <summary>
/// Measures how fast this machine streams memory into the cores: every thread sums its share of a buffer much
/// larger than the last-level cache with wide vector loads. This is the ceiling for decoding, which reads every
/// weight once per token, so <c>edge bench</c> divides the bytes a token reads by it (the roofline).
/// </summary>
internal static class ReadBandwidth
{
    /// <summary>Default buffer: far beyond any L3 this runtime targets, so the sum reads DRAM.</summary>
    public const long DefaultBufferBytes = 1L << 30;

    /// <summary>Bytes each thread reads per timed pass: short passes, so one of many escapes other tenants' time slices.</summary>
    const long PassBytesPerThread = 64L << 20;

    /// <summary>
    /// Read bandwidth of <paramref name="threads"/> threads in bytes per second: the best of many short passes,
    /// each thread summing its own 64 MiB segment, the segments walking through a <paramref name="bufferBytes"/>
    /// buffer so no pass finds its data in cache. At least <paramref name="sweeps"/> sweeps over the whole buffer
    /// are made. The buffer is freed before returning.
    /// </summary>
    public static unsafe double Measure(int threads, long bufferBytes = DefaultBufferBytes, int sweeps = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sweeps, 1);
        const long page = 4096;
        long segment = Math.Min(PassBytesPerThread, bufferBytes / threads / page * page);
        if (segment < page)
            throw new ArgumentOutOfRangeException(nameof(bufferBytes), $"A read-bandwidth buffer of {bufferBytes} bytes is too small for {threads} threads.");
        int segments = (int)(bufferBytes / segment);
        int passes = Math.Max(sweeps * segments / threads, 1);
        long total = segments * segment;
        // In huge pages, as the model's weights are by default: the bound should not depend on 4 KiB page placement.
        byte* buffer = HugePages.Allocate(total, out _);
        try
        {
            // Writing every page first keeps page faults out of the timed passes.
            NativeMemory.Fill(buffer, (nuint)total, 1);
            return threads * segment / FastestPass(buffer, segment, segments, threads, passes);
        }
        finally
        {
            HugePages.Free(buffer);
        }
    }

    static unsafe double FastestPass(byte* buffer, long segment, int segments, int threads, int passes)
    {
        // Two barrier phases per pass. The barrier's post-phase action runs once everyone has arrived and before
        // anyone is released, so the clock starts before the first read and stops after the last one.
        long begin = 0;
        double best = double.MaxValue;
        using var barrier = new Barrier(threads, b =>
        {
            if (b.CurrentPhaseNumber % 2 == 0)
                begin = Stopwatch.GetTimestamp();
            else
                best = Math.Min(best, Stopwatch.GetElapsedTime(begin).TotalSeconds);
        });
        var sums = new long[threads];
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int index = t;
            workers[t] = new Thread(() =>
            {
                for (int pass = 0; pass < passes; pass++)
                {
                    barrier.SignalAndWait();
                    sums[index] += Sum(buffer + (pass * threads + index) % segments * segment, segment);
                    barrier.SignalAndWait();
                }
            }) { IsBackground = true, Name = "edge-bandwidth" };
            workers[t].Start();
        }
        foreach (var w in workers)
            w.Join();
        // Every byte is 1, so the sums prove the loads were not optimized away.
        long expected = (long)passes * segment;
        foreach (long sum in sums)
            if (sum != expected)
                throw new InvalidOperationException($"Bandwidth read-sum is {sum}, expected {expected}.");
        return best;
    }

    /// <summary>Sums bytes with four independent accumulators so loads, not the add chain, set the pace.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe long Sum(byte* p, long length)
    {
        long total = 0;
        // Per 4 KiB page each 16-bit lane gathers at most 64 × 2 × 255 = 32 640, so none overflows.
        const int page = 4096;
        for (long offset = 0; offset < length; offset += page)
        {
            byte* q = p + offset;
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<ushort> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int i = 0; i < page; i += 128)
                {
                    a0 += Widen(Vector256.Load(q + i));
                    a1 += Widen(Vector256.Load(q + i + 32));
                    a2 += Widen(Vector256.Load(q + i + 64));
                    a3 += Widen(Vector256.Load(q + i + 96));
                }
                total += Total(a0) + Total(a1) + Total(a2) + Total(a3);
            }
            else
            {
                Vector128<ushort> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int i = 0; i < page; i += 64)
                {
                    a0 += Widen(Vector128.Load(q + i));
                    a1 += Widen(Vector128.Load(q + i + 16));
                    a2 += Widen(Vector128.Load(q + i + 32));
                    a3 += Widen(Vector128.Load(q + i + 48));
                }
                total += Total(a0) + Total(a1) + Total(a2) + Total(a3);
            }
        }
        return total;
    }

    static long Total(Vector256<ushort> v) => Vector256.Sum(Vector256.WidenLower(v) + Vector256.WidenUpper(v));

    static long Total(Vector128<ushort> v) => Vector128.Sum(Vector128.WidenLower(v) + Vector128.WidenUpper(v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<ushort> Widen(Vector256<byte> v) => Vector256.WidenLower(v) + Vector256.WidenUpper(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<ushort> Widen(Vector128<byte> v) => Vector128.WidenLower(v) + Vector128.WidenUpper(v);
}
