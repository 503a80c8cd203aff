using Edge.Format.Container;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// A view of a packed ternary weight matrix [Rows, Columns] in the <see cref="TernaryPacking"/> layout or, where a
/// kernel reads it directly, the <see cref="FiveTritPacking"/> one (usually inside the memory-mapped model file).
/// </summary>
internal readonly unsafe struct TernaryMatrix
{
    public TernaryMatrix(byte* data, int rows, int columns, float scale, TensorType layout = TensorType.Ternary2)
    {
        if (!TensorTypes.IsTernary(layout))
            throw new ArgumentException($"{layout} is not a ternary layout.", nameof(layout));
        Data = data;
        Rows = rows;
        Columns = columns;
        Scale = scale;
        Layout = layout;
    }

    /// <summary>Row r starts at Data + r·RowBytes; 2-bit rows are 64-byte aligned when the base is.</summary>
    public byte* Data { get; }

    /// <summary>Output features N.</summary>
    public int Rows { get; }

    /// <summary>Input features K (before padding).</summary>
    public int Columns { get; }

    /// <summary>Per-tensor absmean scale: a code t stands for the weight t·Scale.</summary>
    public float Scale { get; }

    /// <summary><see cref="TensorType.Ternary2"/> or <see cref="TensorType.TernaryFiveTrit"/>.</summary>
    public TensorType Layout { get; }

    /// <summary>K padded to whole 256-weight blocks; activation vectors have this length, zero beyond K.</summary>
    public int PaddedColumns => TernaryPacking.PaddedLength(Columns);

    public int RowBytes => TensorTypes.TernaryRowBytes(Layout, Columns);

    public ReadOnlySpan<byte> Row(int r) => new(Data + (long)r * RowBytes, RowBytes);
}
