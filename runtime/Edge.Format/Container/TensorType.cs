using Edge.Format.Numerics;

namespace Edge.Format.Container;

/// <summary>Element types of tensors in a model file. Values are part of the file format; never renumber.</summary>
public enum TensorType : byte
{
    /// <summary>IEEE fp32, little-endian.</summary>
    F32 = 0,

    /// <summary>IEEE fp16, little-endian.</summary>
    F16 = 1,

    /// <summary>Ternary weights in the <see cref="TernaryPacking"/> layout, with one per-tensor scale.</summary>
    Ternary2 = 2,

    /// <summary>An opaque byte blob (for example the SentencePiece tokenizer model).</summary>
    Bytes = 3,

    /// <summary>Ternary weights in the <see cref="FiveTritPacking"/> layout (five per byte), with one per-tensor scale.</summary>
    TernaryFiveTrit = 4,
}

internal static class TensorTypes
{
    public static bool IsKnown(TensorType type) => type is TensorType.F32 or TensorType.F16 or TensorType.Bytes || IsTernary(type);

    /// <summary>The type's name in docs/format.md (<c>f32</c>, <c>f16</c>, <c>ternary2</c>, <c>bytes</c>, <c>ternary1.6</c>).</summary>
    public static string Name(TensorType type) => type switch
    {
        TensorType.F32 => "f32",
        TensorType.F16 => "f16",
        TensorType.Ternary2 => "ternary2",
        TensorType.Bytes => "bytes",
        TensorType.TernaryFiveTrit => "ternary1.6",
        _ => $"type {(int)type}",
    };

    /// <summary>A packed ternary matrix [rows, K] with a per-tensor scale, in either layout.</summary>
    public static bool IsTernary(TensorType type) => type is TensorType.Ternary2 or TensorType.TernaryFiveTrit;

    /// <summary>Bytes of one packed row of K ternary weights in the layout of <paramref name="type"/>.</summary>
    public static int TernaryRowBytes(TensorType type, int k) => type switch
    {
        TensorType.Ternary2 => TernaryPacking.RowBytes(k),
        TensorType.TernaryFiveTrit => FiveTritPacking.RowBytes(k),
        _ => throw new ArgumentException($"{type} is not a ternary type.", nameof(type)),
    };

    /// <summary>Packs a row of K ternary weights into <see cref="TernaryRowBytes"/> bytes in the layout of <paramref name="type"/>.</summary>
    public static void PackTernaryRow(TensorType type, ReadOnlySpan<sbyte> ternary, Span<byte> packed)
    {
        if (type == TensorType.TernaryFiveTrit)
            FiveTritPacking.PackRow(ternary, packed);
        else if (type == TensorType.Ternary2)
            TernaryPacking.PackRow(ternary, packed);
        else
            throw new ArgumentException($"{type} is not a ternary type.", nameof(type));
    }

    /// <summary>Unpacks a row of <paramref name="ternary"/>.Length = K weights packed in the layout of <paramref name="type"/>.</summary>
    public static void UnpackTernaryRow(TensorType type, ReadOnlySpan<byte> packed, Span<sbyte> ternary)
    {
        if (type == TensorType.TernaryFiveTrit)
            FiveTritPacking.UnpackRow(packed, ternary);
        else if (type == TensorType.Ternary2)
            TernaryPacking.UnpackRow(packed, ternary);
        else
            throw new ArgumentException($"{type} is not a ternary type.", nameof(type));
    }

    /// <summary>The longest ternary row whose padded length (<see cref="TernaryPacking.PaddedLength"/>) still fits an int.</summary>
    public const long MaxTernaryRowLength = int.MaxValue / TernaryPacking.BlockWeights * TernaryPacking.BlockWeights;

    /// <summary>The byte length a tensor of this type and shape must have, or null if the shape is invalid for it.</summary>
    public static long? ExpectedLength(TensorType type, IReadOnlyList<long> shape)
    {
        if (shape.Count == 0 || shape.Any(d => d <= 0 || d > int.MaxValue))
            return null;
        long count = 1;
        foreach (long d in shape)
        {
            count *= d;
            if (count > (1L << 40))
                return null;
        }
        return type switch
        {
            TensorType.F32 => count * 4,
            TensorType.F16 => count * 2,
            TensorType.Ternary2 or TensorType.TernaryFiveTrit => shape.Count == 2 && shape[1] <= MaxTernaryRowLength ? shape[0] * TernaryRowBytes(type, (int)shape[1]) : null,
            TensorType.Bytes => shape.Count == 1 ? count : null,
            _ => null,
        };
    }
}
