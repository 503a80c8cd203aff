using System.Globalization;

namespace Edge.Runtime.Diagnostics;

/// <summary>
/// The CPU's last-level cache as Linux describes it for the first core. <c>edge bench</c> needs it twice: a
/// read-bandwidth buffer must be larger to measure memory rather than cache, and a model whose weights fit in it may
/// decode from cache, faster than the memory roofline (as 370M does on a server CPU whose L3 holds all its weights;
/// docs/PERFORMANCE.md, "Decode and prefill per thread count").
/// </summary>
internal static class CpuCaches
{
    const string CacheDirectory = "/sys/devices/system/cpu/cpu0/cache";

    /// <summary>Bytes of the highest-level data or unified cache of core 0; null where the system does not say.</summary>
    public static long? LastLevelBytes { get; } = ReadLastLevel(CacheDirectory);

    /// <summary>
    /// Reads a sysfs cache directory (index0, index1, … each with level, type and size): the size of the data or
    /// unified cache of the highest level, or null if there is none or a file cannot be read or parsed.
    /// </summary>
    internal static long? ReadLastLevel(string directory)
    {
        try
        {
            if (!Directory.Exists(directory))
                return null;
            (int Level, long Bytes)? last = null;
            foreach (string index in Directory.EnumerateDirectories(directory, "index*"))
            {
                string type = File.ReadAllText(Path.Combine(index, "type")).Trim();
                if (type is not ("Data" or "Unified"))
                    continue;
                if (!int.TryParse(File.ReadAllText(Path.Combine(index, "level")).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int level)
                    || ParseSize(File.ReadAllText(Path.Combine(index, "size"))) is not long bytes)
                    return null;
                if (last is null || level > last.Value.Level)
                    last = (level, bytes);
            }
            return last?.Bytes;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A sysfs cache size: a whole number with an optional K, M or G suffix (the kernel writes e.g. "32768K").</summary>
    internal static long? ParseSize(string text)
    {
        text = text.Trim();
        int shift = text.EndsWith('K') ? 10 : text.EndsWith('M') ? 20 : text.EndsWith('G') ? 30 : 0;
        string digits = shift == 0 ? text : text[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value > 0 && value < 1L << 32
            ? value << shift
            : null;
    }
}
