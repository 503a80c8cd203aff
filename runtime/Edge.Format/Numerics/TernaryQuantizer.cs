namespace Edge.Format.Numerics;

/// <summary>
/// The official weight rule of MMfreeLM's BitLinear (<c>weight_quant</c>): one absmean scale per tensor,
/// taken from the full-precision latent weights, then <c>clamp(round_half_even(w / absmean), -1, 1)</c>.
/// </summary>
/// <remarks>
/// The official code evaluates the rule in the model dtype on the GPU; Edge evaluates it in fp32 from the bf16
/// latent weights (the sum of |w| is accumulated in fp64 so it does not depend on summation order). The scale must
/// come from the latent weights: re-deriving it from already-ternary values shrinks every layer's output by its
/// non-zero fraction (matmulfreellm issue #18).
/// </remarks>
internal static class TernaryQuantizer
{
    /// <summary>Lower clamp of the absmean, as in the official code.</summary>
    public const float MinScale = 1e-5f;

    /// <summary>Accumulates the |w| sum of a tensor that arrives in pieces (the packer streams row blocks).</summary>
    public struct AbsMeanAccumulator
    {
        double _sum;
        long _count;

        public void Add(ReadOnlySpan<float> values)
        {
            double sum = 0;
            foreach (float v in values)
                sum += Math.Abs(v);
            _sum += sum;
            _count += values.Length;
        }

        /// <summary>The per-tensor scale <c>max(mean|w|, 1e-5)</c>: a ternary code t stands for the weight t * scale.</summary>
        public readonly float Scale
        {
            get
            {
                if (_count == 0)
                    throw new InvalidOperationException("The absmean of an empty tensor is undefined.");
                return Math.Max((float)(_sum / _count), MinScale);
            }
        }
    }

    /// <summary>The per-tensor scale of a whole tensor held in memory.</summary>
    public static float AbsMeanScale(ReadOnlySpan<float> latent)
    {
        var acc = new AbsMeanAccumulator();
        acc.Add(latent);
        return acc.Scale;
    }

    /// <summary>Ternarizes latent weights with a scale from <see cref="AbsMeanScale"/>.</summary>
    public static void Ternarize(ReadOnlySpan<float> latent, float scale, Span<sbyte> ternary)
    {
        if (ternary.Length < latent.Length)
            throw new ArgumentException("Destination is shorter than the source.", nameof(ternary));
        float inverse = 1f / scale;
        for (int i = 0; i < latent.Length; i++)
            ternary[i] = Ternarize(latent[i], inverse);
    }

    /// <summary>One weight: <c>clamp(round_half_even(w * inverseScale), -1, 1)</c> (torch.round is half-to-even).</summary>
    public static sbyte Ternarize(float latent, float inverseScale)
    {
        float r = MathF.Round(latent * inverseScale, MidpointRounding.ToEven);
        return r >= 1f ? (sbyte)1 : r <= -1f ? (sbyte)-1 : (sbyte)0;
    }
}
