using System.Globalization;

namespace Edge.Soak;

/// <summary>One point of a soak: how far it got, and the process's memory then.</summary>
public readonly record struct MemorySample(long Progress, long RssBytes, long AnonymousBytes, long ManagedBytes, long AllocatedBytes);

/// <summary>
/// Memory of a process, sampled during a soak: resident set size from /proc/PID/status, split into anonymous memory
/// (managed heap, native allocations, stacks: where a leak shows) and file pages (the memory-mapped model, whose
/// pages become resident as tokens first touch their rows: bounded by the file's size, and given back by the kernel
/// under pressure), and, for this process, the managed heap. The verdict is on the anonymous part.
/// Another PID (an <c>edge serve</c> under load, say) can be sampled the same way.
/// <para>By default each sample of this process follows a full blocking collection, so it shows what is retained
/// rather than how much garbage waits for the next gen-0 collection: the gen-0 budget differs by machine (tens of
/// MiB on a desktop CPU, far less on a Pi), and so would the figure. <c>--no-collect</c> samples as the process is.</para>
/// </summary>
public sealed class MemorySamples(int pid, bool collect)
{
    readonly List<MemorySample> _samples = [];

    public IReadOnlyList<MemorySample> All => _samples;

    /// <summary>VmRSS and RssAnon of /proc/PID/status, in bytes.</summary>
    public static (long Rss, long Anonymous) ResidentBytes(int pid)
    {
        long rss = -1, anonymous = -1;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                rss = Kib(line);
            else if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                anonymous = Kib(line);
        }
        if (rss < 0 || anonymous < 0)
            throw new InvalidOperationException($"/proc/{pid}/status has no VmRSS or RssAnon line (Linux 4.5 or later is needed).");
        return (rss, anonymous);
        static long Kib(string line) => long.Parse(line[(line.IndexOf(':') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Takes a sample; the managed figure is only meaningful for this process.</summary>
    public MemorySample Take(long progress)
    {
        bool self = pid == Environment.ProcessId;
        long allocated = self ? GC.GetTotalAllocatedBytes(precise: true) : 0;
        if (self && collect)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        var (rss, anonymous) = ResidentBytes(pid);
        var sample = new MemorySample(progress, rss, anonymous, self ? GC.GetTotalMemory(forceFullCollection: false) : 0, allocated);
        _samples.Add(sample);
        return sample;
    }

    /// <summary>
    /// The verdict over the samples after <paramref name="warmup"/>: anonymous RSS must never rise more than
    /// <paramref name="toleranceBytes"/> above an earlier sample (a leak rises; memory the runtime gives back, such as
    /// idle thread-pool threads, falls and is no leak). Also reports the band (largest minus smallest), the change from
    /// the first to the last sample and the whole RSS.
    /// </summary>
    public (bool Flat, string Line) Verdict(long warmup, long toleranceBytes, string unit)
    {
        var steady = _samples.Where(s => s.Progress > warmup).ToList();
        if (steady.Count < 2)
            return (false, $"only {steady.Count} samples after the warm-up of {warmup:N0} {unit}: run longer or sample more often");
        long min = steady.Min(s => s.AnonymousBytes), max = steady.Max(s => s.AnonymousBytes);
        long growth = steady[^1].AnonymousBytes - steady[0].AnonymousBytes;
        long rise = 0, lowest = long.MaxValue;
        foreach (var s in steady)
        {
            lowest = Math.Min(lowest, s.AnonymousBytes);
            rise = Math.Max(rise, s.AnonymousBytes - lowest);
        }
        double allocatedPerUnit = (double)(steady[^1].AllocatedBytes - steady[0].AllocatedBytes) / (steady[^1].Progress - steady[0].Progress);
        bool flat = rise <= toleranceBytes;
        return (flat, $"anonymous RSS after {warmup:N0} {unit} of warm-up, {steady.Count} samples: {Mib(min)}–{Mib(max)} MiB, " +
            $"largest rise {Kib(rise)} KiB (limit {Kib(toleranceBytes)} KiB), band {Kib(max - min)} KiB, first to last {(growth >= 0 ? "+" : "")}{Kib(growth)} KiB, " +
            $"whole RSS {Mib(steady.Min(s => s.RssBytes))}–{Mib(steady.Max(s => s.RssBytes))} MiB" +
            // The managed heap and allocations are known only for this process.
            (pid == Environment.ProcessId
                ? $", managed heap {Mib(steady.Min(s => s.ManagedBytes))}–{Mib(steady.Max(s => s.ManagedBytes))} MiB, {allocatedPerUnit:N0} bytes allocated per {unit.Split(' ')[^1].TrimEnd('s')}" +
                  $"{(collect ? ", sampled after a full GC" : ", no GC forced")}; "
                : $", first {Mib(steady[0].AnonymousBytes)} MiB anonymous ({Mib(steady[0].RssBytes)} whole) at {steady[0].Progress:N0} {unit}, last {Mib(steady[^1].AnonymousBytes)} MiB ({Mib(steady[^1].RssBytes)}) at {steady[^1].Progress:N0}; ") +
            (flat ? "flat" : "NOT FLAT"));
    }

    public static string Mib(long bytes) => (bytes / 1048576.0).ToString("F2", CultureInfo.InvariantCulture);

    public static string Kib(long bytes) => (bytes / 1024.0).ToString("N0", CultureInfo.InvariantCulture);
}
