using Edge.Format.Container;

namespace Edge.Format.Numerics;

/// <summary>
/// The ~1.6-bit layout of ternary weights (tensor type <see cref="TensorType.TernaryFiveTrit"/>): five weights per
/// byte, 19-20 % fewer bytes than <see cref="TernaryPacking"/>, for CPUs whose kernel decodes it faster than it
/// would stream the 2-bit bytes (AVX-512 VBMI; docs/kernels.md).
/// </summary>
/// <remarks>
/// A row is cut into blocks of 320 weights in 64 bytes: byte j of a block holds weights j + 64·i, i = 0..4, so each
/// of its five trit planes meets 64 consecutive activations. With codes c = t + 1 ∈ {0,1,2} and u = c0 + 3·c1 +
/// 9·c2 + 27·c3 ∈ [0, 81), the byte is 128·h + 41·c4 + (u − 41·h) with h = [u ≥ 41]: c4 depends on the low seven
/// bits only (one 128-entry byte permutation) and c0..c3 on all eight (two permutations and a blend on the top bit),
/// three table lookups per 64 bytes instead of four for the usual base-3 byte. The K mod 320 weights left over are
/// stored 2-bit, 64 weights in 16 bytes (byte j holds weights j + 16·l in bits 2l and 2l+1), padded with zeros.
/// K = 1024 takes 208 bytes instead of 256 (−19 %), K = 2560 512 instead of 640 (−20 %).
/// </remarks>
internal static class FiveTritPacking
{
    public const int BlockWeights = 320;
    public const int BlockBytes = 64;
    public const int TailGroupWeights = 64;
    public const int TailGroupBytes = 16;

    /// <summary>The split of u ∈ [0, 81) by the top bit: 41 values below it, 40 above.</summary>
    const int LowHalf = 41;

    public static int Blocks(int k) => k / BlockWeights;

    public static int TailGroups(int k) => (k % BlockWeights + TailGroupWeights - 1) / TailGroupWeights;

    public static int RowBytes(int k) => Blocks(k) * BlockBytes + TailGroups(k) * TailGroupBytes;

    /// <summary>The byte holding five codes c ∈ {0,1,2}.</summary>
    public static byte Encode(int c0, int c1, int c2, int c3, int c4)
    {
        int u = c0 + 3 * c1 + 9 * c2 + 27 * c3;
        int high = u >= LowHalf ? 1 : 0;
        return (byte)(128 * high + LowHalf * c4 + u - LowHalf * high);
    }

    /// <summary>
    /// Code i (0..4) of any byte, the reference every kernel matches: the five bytes r ≥ 123 of the low seven bits that
    /// <see cref="Encode"/> never writes still decode to codes in {0,1,2}, so a corrupt byte cannot overflow a kernel.
    /// </summary>
    public static int Code(byte b, int i)
    {
        int low = b & 127;
        int c4 = Math.Min(low / LowHalf, 2);
        if (i == 4)
            return c4;
        int u = (LowHalf * (b >> 7) + low - LowHalf * c4) % 81;
        for (int j = 0; j < i; j++)
            u /= 3;
        return u % 3;
    }

    /// <summary>Bytes of a packed [rows, k] matrix.</summary>
    public static long MatrixBytes(long rows, int k) => rows * RowBytes(k);

    /// <summary>Packs a row of K ternary weights into <see cref="RowBytes"/> bytes.</summary>
    public static void PackRow(ReadOnlySpan<sbyte> t, Span<byte> packed)
    {
        int k = t.Length, blocks = Blocks(k);
        if (packed.Length < RowBytes(k))
            throw new ArgumentException($"A packed row of {k} weights needs {RowBytes(k)} bytes.", nameof(packed));
        foreach (sbyte weight in t)
            if (weight is < -1 or > 1)
                throw new ArgumentOutOfRangeException(nameof(t), $"Weight {weight} is not in {{-1, 0, 1}}.");
        for (int b = 0; b < blocks; b++)
        {
            int w = b * BlockWeights;
            for (int j = 0; j < BlockBytes; j++)
                packed[b * BlockBytes + j] = Encode(t[w + j] + 1, t[w + j + 64] + 1, t[w + j + 128] + 1, t[w + j + 192] + 1, t[w + j + 256] + 1);
        }
        int tail = blocks * BlockWeights;
        for (int g = 0; g < TailGroups(k); g++)
            for (int j = 0; j < TailGroupBytes; j++)
            {
                int bits = 0;
                for (int l = 0; l < 4; l++)
                {
                    int index = tail + g * TailGroupWeights + 16 * l + j;
                    bits |= ((index < k ? t[index] : 0) + 1) << (2 * l);
                }
                packed[blocks * BlockBytes + g * TailGroupBytes + j] = (byte)bits;
            }
    }

    /// <summary>Unpacks a row of <paramref name="ternary"/>.Length = K weights (the row's own length).</summary>
    public static void UnpackRow(ReadOnlySpan<byte> packed, Span<sbyte> ternary)
    {
        int k = ternary.Length, blocks = Blocks(k);
        if (packed.Length < RowBytes(k))
            throw new ArgumentException($"A packed row of {k} weights has {RowBytes(k)} bytes; got {packed.Length}.", nameof(packed));
        var weights = DecodedWeights;
        for (int b = 0; b < blocks; b++)
            for (int j = 0; j < BlockBytes; j++)
            {
                int entry = 5 * packed[b * BlockBytes + j];
                for (int i = 0; i < 5; i++)
                    ternary[b * BlockWeights + 64 * i + j] = weights[entry + i];
            }
        for (int w = blocks * BlockWeights; w < k; w++)
            ternary[w] = GetWeight(packed, k, w);
    }

    /// <summary>The weight at position <paramref name="index"/> of a packed row of K = <paramref name="columns"/> weights.</summary>
    public static sbyte GetWeight(ReadOnlySpan<byte> packedRow, int columns, int index)
    {
        int blocks = Blocks(columns);
        if (index < blocks * BlockWeights)
        {
            int inBlock = index % BlockWeights;
            return (sbyte)(Code(packedRow[index / BlockWeights * BlockBytes + inBlock % 64], inBlock / 64) - 1);
        }
        int tail = index - blocks * BlockWeights;
        int bits = packedRow[blocks * BlockBytes + tail / TailGroupWeights * TailGroupBytes + tail % 16];
        return (sbyte)(((bits >> (2 * (tail % TailGroupWeights / 16))) & 3) - 1);
    }

    /// <summary>The five weights of every byte value (5·b .. 5·b+4), so unpacking a model costs a table read per weight.</summary>
    static readonly sbyte[] DecodedWeights = DecodeAll();

    static sbyte[] DecodeAll()
    {
        var weights = new sbyte[256 * 5];
        for (int b = 0; b < 256; b++)
            for (int i = 0; i < 5; i++)
                weights[5 * b + i] = (sbyte)(Code((byte)b, i) - 1);
        return weights;
    }

    /// <summary>For each byte, codes c0..c3 as 2-bit fields (c0 in bits 0-1): the 256-entry table of the first lookup.</summary>
    public static byte[] FourCodeTable()
    {
        var table = new byte[256];
        for (int b = 0; b < 256; b++)
            table[b] = (byte)(Code((byte)b, 0) | Code((byte)b, 1) << 2 | Code((byte)b, 2) << 4 | Code((byte)b, 3) << 6);
        return table;
    }

    /// <summary>For each value of the low seven bits, code c4: the 128-entry table of the second lookup.</summary>
    public static byte[] FifthCodeTable()
    {
        var table = new byte[128];
        for (int b = 0; b < 128; b++)
            table[b] = (byte)Code((byte)b, 4);
        return table;
    }
}
