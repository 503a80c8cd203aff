using System.Numerics.Tensors;

namespace Edge.Format.Numerics;

/// <summary>
/// How a BitLinear output is rebuilt from the exact integer sum: <c>out_j = acc_j · (weightScale / activationScale)</c>,
/// with <c>acc_j = Σ_k t_jk · q_k</c> (the official <c>yq · Wq</c> is <c>(q/sx)·(t·β)</c>). Every kernel, the FPGA
/// path and the tests apply this one epilogue, so equal integer sums give bit-identical outputs.
/// </summary>
public static class BitLinearRule
{
    public static float OutputFactor(float weightScale, float activationScale) => weightScale / activationScale;

    public static void Rescale(ReadOnlySpan<int> sums, float factor, Span<float> output)
    {
        // Vectorized (float)sums[j] * factor: the same two roundings as the scalar expression.
        var destination = output[..sums.Length];
        TensorPrimitives.ConvertTruncating<int, float>(sums, destination);
        TensorPrimitives.Multiply(destination, factor, destination);
    }
}
