using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Edge.Runtime.Diagnostics;

/// <summary>
/// Measures how fast this machine streams memory into the cores: every thread sums its share of a buffer much
/// larger than the last-level cache with wide vector loads. This is the ceiling for decoding, which reads every
/// weight once per token, so <c>edge bench</c> divides the bytes a token reads by it (the roofline).
/// </summary>
public static class ReadBandwidth
{
    /// <summary>Default buffer: far beyond any L3 this runtime targets, so the sum reads DRAM.</summary>
    public const long DefaultBufferBytes = 1L << 30;

    /// <summary>
    /// Best of <paramref name="passes"/> passes of <paramref name="threads"/> threads reading
    /// <paramref name="bufferBytes"/> bytes, in bytes per second. The buffer is freed before returning.
    /// </summary>
    public static unsafe double Measure(int threads, long bufferBytes = DefaultBufferBytes, int passes = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(passes, 1);
        const long chunk = 4096;
        // Each thread gets a whole number of pages, so slices never share a cache line.
        long perThread = bufferBytes / threads / chunk * chunk;
        if (perThread < chunk)
            throw new ArgumentOutOfRangeException(nameof(bufferBytes), $"A read-bandwidth buffer of {bufferBytes} bytes is too small for {threads} threads.");
        long total = perThread * threads;
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)total, 64);
        try
        {
            // Writing every page first keeps page faults out of the timed passes.
            NativeMemory.Fill(buffer, (nuint)total, 1);
            double best = 0;
            for (int pass = 0; pass < passes; pass++)
                best = Math.Max(best, total / TimePass(buffer, perThread, threads));
            return best;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    static unsafe double TimePass(byte* buffer, long perThread, int threads)
    {
        using var start = new Barrier(threads + 1);
        using var done = new CountdownEvent(threads);
        var workers = new Thread[threads];
        long sink = 0;
        for (int t = 0; t < threads; t++)
        {
            byte* slice = buffer + t * perThread;
            workers[t] = new Thread(() =>
            {
                start.SignalAndWait();
                Interlocked.Add(ref sink, Sum(slice, perThread));
                done.Signal();
            }) { IsBackground = true, Name = "edge-bandwidth" };
            workers[t].Start();
        }
        start.SignalAndWait();
        long begin = Stopwatch.GetTimestamp();
        done.Wait();
        double seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
        foreach (var w in workers)
            w.Join();
        // Every byte is 1, so the sum proves the loads were not optimized away.
        if (sink != perThread * threads)
            throw new InvalidOperationException($"Bandwidth read-sum is {sink}, expected {perThread * threads}.");
        return seconds;
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
