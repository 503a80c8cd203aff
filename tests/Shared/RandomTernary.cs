using Edge.Format.Container;

namespace Edge.Tests.Shared;

/// <summary>Random ternary weights for the tests that write a model file of their own. Linked into each test project that needs it.</summary>
static class RandomTernary
{
    /// <summary>A rows × columns matrix of uniform −1/0/+1 weights drawn row by row from <paramref name="rng"/>, packed in <paramref name="layout"/>.</summary>
    public static byte[] PackedRows(TensorType layout, int rows, int columns, Random rng)
    {
        int rowBytes = TensorTypes.TernaryRowBytes(layout, columns);
        var packed = new byte[rows * rowBytes];
        var row = new sbyte[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
                row[c] = (sbyte)rng.Next(-1, 2);
            TensorTypes.PackTernaryRow(layout, row, packed.AsSpan(r * rowBytes, rowBytes));
        }
        return packed;
    }
}
