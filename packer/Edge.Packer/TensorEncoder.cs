using System.Buffers.Binary;
using Edge.Format.Container;
using Edge.Format.Numerics;

namespace Edge.Packer;

/// <summary>Produces row <paramref name="row"/> of a tensor into <paramref name="destination"/>.</summary>
internal delegate void RowFiller<T>(long row, Span<T> destination);

/// <summary>
/// Streams tensors into a <see cref="ModelFileWriter"/> row by row, encoding each row as it is produced, so only a
/// small buffer is ever held whatever the tensor's size.
/// </summary>
internal static class TensorEncoder
{
    const int ChunkBytes = 1 << 20;

    /// <summary>Writes an F32 or F16 tensor; 1-D tensors are one row, 2-D tensors [rows, columns].</summary>
    public static void WriteFloat(ModelFileWriter writer, PlannedTensor tensor, RowFiller<float> fill, CancellationToken cancel)
    {
        if (tensor.Type is not (TensorType.F32 or TensorType.F16))
            throw new ArgumentException($"{tensor.Name} is {tensor.Type}, not a float tensor.", nameof(tensor));
        var (rows, columns) = RowsAndColumns(tensor);
        int elementSize = tensor.Type == TensorType.F32 ? 4 : 2;
        var values = new float[columns];
        var bytes = new byte[Math.Max(ChunkBytes, columns * elementSize)];
        int used = 0;
        // The stream is finished by Dispose only on success: an exception mid-tensor must surface as itself.
        var stream = writer.BeginTensor(tensor.Name, tensor.Type, tensor.Shape);
        for (long r = 0; r < rows; r++)
        {
            cancel.ThrowIfCancellationRequested();
            fill(r, values);
            if (used + columns * elementSize > bytes.Length)
            {
                stream.Write(bytes, 0, used);
                used = 0;
            }
            var target = bytes.AsSpan(used);
            if (tensor.Type == TensorType.F32)
                for (int c = 0; c < columns; c++)
                    BinaryPrimitives.WriteSingleLittleEndian(target[(4 * c)..], values[c]);
            else
                for (int c = 0; c < columns; c++)
                    BinaryPrimitives.WriteUInt16LittleEndian(target[(2 * c)..], FloatFormats.SingleToHalf(values[c]));
            used += columns * elementSize;
        }
        stream.Write(bytes, 0, used);
        stream.Dispose();
    }

    /// <summary>
    /// Writes a ternary tensor [rows, columns] (2-bit or 1.6-bit, as its type says) whose rows of codes in {-1, 0, 1}
    /// come from <paramref name="fill"/>.
    /// </summary>
    public static void WriteTernary(ModelFileWriter writer, PlannedTensor tensor, float scale, RowFiller<sbyte> fill, CancellationToken cancel)
    {
        if (!TensorTypes.IsTernary(tensor.Type) || tensor.Shape.Length != 2)
            throw new ArgumentException($"{tensor.Name} is not a 2-D ternary tensor.", nameof(tensor));
        var (rows, columns) = RowsAndColumns(tensor);
        int rowBytes = TensorTypes.TernaryRowBytes(tensor.Type, columns);
        var codes = new sbyte[columns];
        var bytes = new byte[Math.Max(ChunkBytes, rowBytes)];
        int used = 0;
        var stream = writer.BeginTensor(tensor.Name, tensor.Type, tensor.Shape, scale);
        for (long r = 0; r < rows; r++)
        {
            cancel.ThrowIfCancellationRequested();
            fill(r, codes);
            if (used + rowBytes > bytes.Length)
            {
                stream.Write(bytes, 0, used);
                used = 0;
            }
            TensorTypes.PackTernaryRow(tensor.Type, codes, bytes.AsSpan(used, rowBytes));
            used += rowBytes;
        }
        stream.Write(bytes, 0, used);
        stream.Dispose();
    }

    static (long Rows, int Columns) RowsAndColumns(PlannedTensor tensor) => tensor.Shape.Length switch
    {
        1 => (1, checked((int)tensor.Shape[0])),
        2 => (tensor.Shape[0], checked((int)tensor.Shape[1])),
        _ => throw new ArgumentException($"{tensor.Name} has {tensor.Shape.Length} dimensions; 1 or 2 are supported.", nameof(tensor)),
    };
}
