using System.Buffers.Binary;
using System.Text.Json;
using Edge.Format.Numerics;

namespace Edge.Tests.Helpers;

/// <summary>One tensor of a safetensors file: dtype as the format spells it ("BF16", "F16", "F32", or any other for error tests) and raw data.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, byte[] Data);

/// <summary>Writes safetensors files (8-byte LE header length, JSON header padded to 8 bytes, raw little-endian data).</summary>
public static class SafetensorsWriter
{
    /// <summary>A tensor of float values stored as <paramref name="dtype"/> (BF16 rounds to nearest even, as torch does).</summary>
    public static SafetensorsEntry Tensor(string name, long[] shape, ReadOnlySpan<float> values, string dtype = "BF16") =>
        new(name, dtype, shape, Encode(values, dtype));

    public static byte[] Encode(ReadOnlySpan<float> values, string dtype)
    {
        switch (dtype)
        {
            case "BF16":
            case "F16":
                var half = new byte[values.Length * 2];
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(half.AsSpan(2 * i),
                        dtype == "BF16" ? FloatFormats.SingleToBFloat16(values[i]) : FloatFormats.SingleToHalf(values[i]));
                return half;
            case "F32":
                var single = new byte[values.Length * 4];
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteSingleLittleEndian(single.AsSpan(4 * i), values[i]);
                return single;
            default:
                throw new ArgumentException($"Cannot encode floats as {dtype}.", nameof(dtype));
        }
    }

    /// <summary>The values a reader gets back after storing <paramref name="values"/> as <paramref name="dtype"/>.</summary>
    public static float[] RoundTrip(ReadOnlySpan<float> values, string dtype)
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
            result[i] = dtype switch
            {
                "BF16" => FloatFormats.BFloat16ToSingle(FloatFormats.SingleToBFloat16(values[i])),
                "F16" => FloatFormats.HalfToSingle(FloatFormats.SingleToHalf(values[i])),
                "F32" => values[i],
                _ => throw new ArgumentException($"Cannot encode floats as {dtype}.", nameof(dtype)),
            };
        return result;
    }

    public static void Write(string path, IEnumerable<SafetensorsEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        File.WriteAllBytes(path, ToBytes(tensors, metadata));

    public static byte[] ToBytes(IEnumerable<SafetensorsEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        using var header = new MemoryStream();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            if (metadata is not null)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                    w.WriteString(key, value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in list)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType);
                w.WriteStartArray("shape");
                foreach (long d in t.Shape)
                    w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.Data.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.Data.Length;
            }
            w.WriteEndObject();
        }
        while (header.Length % 8 != 0)
            header.WriteByte((byte)' ');

        using var file = new MemoryStream();
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        file.Write(length);
        header.Position = 0;
        header.CopyTo(file);
        foreach (var t in list)
            file.Write(t.Data);
        return file.ToArray();
    }
}
