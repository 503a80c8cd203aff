namespace Edge.Format.Text;

/// <summary>Byte counts for people: the one wording every tool of the repository prints sizes in.</summary>
internal static class ByteSize
{
    /// <summary>"812 B", "20.2 KiB", "145.02 MiB", "1.21 GiB" (binary units).</summary>
    public static string Format(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F2} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:F1} KiB",
        _ => $"{bytes} B",
    };
}
