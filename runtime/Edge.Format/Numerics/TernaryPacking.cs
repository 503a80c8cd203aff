namespace Edge.Format.Numerics;

/// <summary>
/// The one packed layout of ternary weights (tensor type <see cref="Container.TensorType.Ternary2"/>), independent of the CPU
/// that packed or runs it. Each row of K weights is padded with zero weights to a multiple of 256 and stored as
/// blocks of 256 weights in 64 bytes. A weight t ∈ {-1,0,+1} is stored as the 2-bit code t+1 ∈ {0,1,2};
/// byte j (0..63) of a block holds weights j, j+64, j+128 and j+192 of that block in bits 0-1, 2-3, 4-5 and 6-7.
/// </summary>
/// <remarks>
/// Why this layout: one shift and one mask turn 16, 32 or 64 consecutive bytes into codes for 16, 32 or 64
/// consecutive weights, so NEON, AVX2 and AVX-512 kernels all unpack it without shuffles; every row starts on a
/// 64-byte boundary; and a u8×s8 dot product of codes with activations gives Σ(t+1)·x, from which Σx is subtracted
/// once per row.
/// </remarks>
internal static class TernaryPacking
{
    /// <summary>Weights per block.</summary>
    public const int BlockWeights = 256;

    /// <summary>Bytes per block.</summary>
    public const int BlockBytes = 64;

    /// <summary>The row length after padding to whole blocks.</summary>
    public static int PaddedLength(int k) => checked((k + BlockWeights - 1) / BlockWeights * BlockWeights);

    /// <summary>Bytes per packed row.</summary>
    public static int RowBytes(int k) => PaddedLength(k) / 4;

    /// <summary>Bytes of a packed [rows, k] matrix.</summary>
    public static long MatrixBytes(long rows, int k) => rows * RowBytes(k);

    /// <summary>Packs one row of ternary values (length K) into <see cref="RowBytes"/> bytes.</summary>
    public static void PackRow(ReadOnlySpan<sbyte> ternary, Span<byte> packed)
    {
        int rowBytes = RowBytes(ternary.Length);
        if (packed.Length < rowBytes)
            throw new ArgumentException($"A packed row of {ternary.Length} weights needs {rowBytes} bytes.", nameof(packed));
        for (int block = 0; block < rowBytes / BlockBytes; block++)
        {
            int w0 = block * BlockWeights;
            for (int j = 0; j < BlockBytes; j++)
            {
                int b = 0;
                for (int lane = 0; lane < 4; lane++)
                {
                    int k = w0 + lane * BlockBytes + j;
                    int t = k < ternary.Length ? ternary[k] : 0;
                    if (t is < -1 or > 1)
                        throw new ArgumentOutOfRangeException(nameof(ternary), $"Weight {k} is {t}, not in {{-1, 0, 1}}.");
                    b |= (t + 1) << (2 * lane);
                }
                packed[block * BlockBytes + j] = (byte)b;
            }
        }
    }

    /// <summary>Unpacks the first <paramref name="ternary"/>.Length weights of a packed row.</summary>
    public static void UnpackRow(ReadOnlySpan<byte> packed, Span<sbyte> ternary)
    {
        for (int k = 0; k < ternary.Length; k++)
            ternary[k] = GetWeight(packed, k);
    }

    /// <summary>The weight at position k of a packed row.</summary>
    public static sbyte GetWeight(ReadOnlySpan<byte> packedRow, int k)
    {
        int block = k / BlockWeights, inBlock = k % BlockWeights;
        int lane = inBlock / BlockBytes, j = inBlock % BlockBytes;
        int code = (packedRow[block * BlockBytes + j] >> (2 * lane)) & 3;
        return (sbyte)(code - 1);
    }
}
