namespace Edge.Runtime.Diagnostics;

/// <summary>
/// This process's memory as Linux reports it in /proc/self/status and /proc/self/smaps_rollup; null fields where it
/// does not. <see cref="HugePageBytes"/> is the memory in transparent huge pages: a <c>--no-mmap</c> model's copy
/// (AnonHugePages), or a mapped model where the kernel maps its file with huge pages (FilePmdMapped).
/// </summary>
internal sealed record ProcessMemory(long? PeakRssBytes, long? RssBytes, long? AnonymousRssBytes, long? HugePageBytes)
{
    const string StatusPath = "/proc/self/status";
    const string RollupPath = "/proc/self/smaps_rollup";

    public static ProcessMemory Read()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(StatusPath))
            return new ProcessMemory(null, null, null, null);
        long? peak = null, rss = null, anon = null;
        foreach (string line in File.ReadLines(StatusPath))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                peak = Kilobytes(line);
            else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                rss = Kilobytes(line);
            else if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                anon = Kilobytes(line);
        }
        long? huge = null;
        if (File.Exists(RollupPath))
            foreach (string line in File.ReadLines(RollupPath))
                if (line.StartsWith("AnonHugePages:", StringComparison.Ordinal) || line.StartsWith("FilePmdMapped:", StringComparison.Ordinal))
                    huge = (huge ?? 0) + Kilobytes(line);
        return new ProcessMemory(peak, rss, anon, huge);
    }

    /// <summary>
    /// Starts a new peak-RSS window (writing 5 to /proc/self/clear_refs), so one run's peak is not an earlier
    /// run's; returns false where the kernel does not allow it, and the peak then covers the whole process.
    /// </summary>
    public static bool ResetPeak()
    {
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>"VmHWM:     12345 kB" → bytes.</summary>
    static long? Kilobytes(string line)
    {
        var parts = line.Split(' ', '\t', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && long.TryParse(parts[1], out long kb) ? kb * 1024 : null;
    }
}
