namespace Edge.Format.Numerics;

/// <summary>Conversions of the 16-bit float formats found in checkpoints and model files.</summary>
internal static class FloatFormats
{
    /// <summary>bf16 is the upper half of an fp32, so widening is exact.</summary>
    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>fp32 → bf16, rounding to nearest even (as torch does); NaN stays NaN.</summary>
    public static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
            return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    public static float HalfToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    public static ushort SingleToHalf(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    public static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        for (int i = 0; i < source.Length; i++)
            destination[i] = BFloat16ToSingle(source[i]);
    }

    public static void HalfToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        for (int i = 0; i < source.Length; i++)
            destination[i] = HalfToSingle(source[i]);
    }
}
