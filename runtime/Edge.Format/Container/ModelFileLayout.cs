namespace Edge.Format.Container;

/// <summary>
/// Fixed facts of the file layout (docs/format.md):
/// <code>
/// [header: 64 bytes][metadata: UTF-8 JSON][padding][tensor data, each aligned to 64][tensor table]
/// </code>
/// The table comes last so the packer can stream tensors and learn their checksums before writing it.
/// </summary>
internal static class ModelFileLayout
{
    /// <summary>"EDGEMDL" followed by 0x1A, which stops text tools from printing the rest.</summary>
    public static ReadOnlySpan<byte> Magic => "EDGEMDL\u001a"u8;

    public const uint FormatVersion = 1;

    public const int HeaderSize = 64;

    /// <summary>Every tensor starts on a multiple of this (a cache line; also enough for any SIMD load).</summary>
    public const int Alignment = 64;

    /// <summary>Upper bounds that keep a corrupt file from asking for absurd allocations.</summary>
    public const int MaxMetadataBytes = 16 << 20;
    public const int MaxTensorCount = 1 << 20;
    public const int MaxTableBytes = 256 << 20;
    public const int MaxNameBytes = 1024;
    public const int MaxDimensions = 8;

    public static long AlignUp(long offset) => (offset + Alignment - 1) / Alignment * Alignment;
}
