using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// A view of a packed ternary weight matrix [Rows, Columns] in the <see cref="TernaryPacking"/> layout
/// (usually inside the memory-mapped model file).
/// </summary>
public readonly unsafe struct TernaryMatrix
{
    public TernaryMatrix(byte* data, int rows, int columns, float scale)
    {
        Data = data;
        Rows = rows;
        Columns = columns;
        Scale = scale;
    }

    /// <summary>Row r starts at Data + r·RowBytes; rows are 64-byte aligned when the base is.</summary>
    public byte* Data { get; }

    /// <summary>Output features N.</summary>
    public int Rows { get; }

    /// <summary>Input features K (before padding).</summary>
    public int Columns { get; }

    /// <summary>Per-tensor absmean scale: a code t stands for the weight t·Scale.</summary>
    public float Scale { get; }

    /// <summary>K padded to whole 256-weight blocks; activation vectors have this length, zero beyond K.</summary>
    public int PaddedColumns => TernaryPacking.PaddedLength(Columns);

    public int RowBytes => TernaryPacking.RowBytes(Columns);

    public ReadOnlySpan<byte> Row(int r) => new(Data + (long)r * RowBytes, RowBytes);
}
