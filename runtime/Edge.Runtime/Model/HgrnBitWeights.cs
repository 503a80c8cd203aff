using Edge.Format.Container;
using Edge.Format.Numerics;
using Edge.Runtime.Kernels;

namespace Edge.Runtime.Model;

/// <summary>A BitLinear layer: its own RMSNorm weight and a packed ternary matrix.</summary>
/// <param name="repacked">The memory of a matrix repacked at load, which <paramref name="matrix"/> points into; null when it is mapped.</param>
internal sealed class BitLinearWeights(float[] norm, TernaryMatrix matrix, AlignedBuffer<byte>? repacked = null)
{
    public float[] Norm { get; } = norm;        // (in)
    public TernaryMatrix Matrix { get; } = matrix; // (out, in) ternary, mapped (or repacked)

    /// <summary>Keeps a repacked matrix's memory alive as long as the layer.</summary>
    public AlignedBuffer<byte>? Repacked { get; } = repacked;
}

/// <summary>Weights of one <c>HGRNBitBlock</c>.</summary>
internal sealed class LayerWeights
{
    public required float[] AttnNorm { get; init; }        // (H)
    public required BitLinearWeights IProj { get; init; }  // (H, H) input
    public required BitLinearWeights FProj { get; init; }  // (H, H) forget gate
    public required BitLinearWeights GProj { get; init; }  // (H, H) output gate
    public required float[] GNorm { get; init; }           // (H) RMSNorm of g before the swish gate
    public required BitLinearWeights OProj { get; init; }  // (H, H)
    public required float[] MlpNorm { get; init; }         // (H)
    public required BitLinearWeights GateProj { get; init; } // (2I, H): rows 0..I-1 gate, I..2I-1 up
    public required BitLinearWeights DownProj { get; init; } // (H, I)
    public required float[] LowerBound { get; init; }      // (H) lb[l]; all zero for layer 0
}

/// <summary>
/// All weights of an HGRN-Bit model. Ternary matrices and the embedding table stay in the mapped file; the small
/// fp32 vectors (norms, lower bounds) are copied out. 1.6-bit matrices that no kernel of this CPU reads are
/// repacked to 2-bit in process memory.
/// </summary>
internal sealed unsafe class HgrnBitWeights
{
    public HgrnBitConfig Config { get; }

    /// <summary>The file the mapped weights are in.</summary>
    public ModelFile File { get; }

    /// <summary>The model file's <see cref="ModelFile.Fingerprint"/>; saved states carry it.</summary>
    public string Fingerprint => File.Fingerprint;

    public Half* Embeddings { get; }                     // (V, H) fp16, mapped
    public LayerWeights[] Layers { get; }                // (L)
    public float[] FinalNorm { get; }                    // (H)
    public BitLinearWeights LmHead { get; }              // (V, H)

    readonly bool _readFiveTrit;

    /// <summary>True if any matrix is read in the 1.6-bit layout (not repacked).</summary>
    public bool HasFiveTrit => BitLinearLayers.Any(l => l.Layer.Matrix.Layout == TensorType.TernaryFiveTrit);

    /// <param name="readFiveTrit">A kernel reads 1.6-bit matrices as they are mapped; false repacks them to 2-bit.</param>
    public HgrnBitWeights(ModelFile file, bool readFiveTrit = false)
    {
        _readFiveTrit = readFiveTrit;
        File = file;
        var c = file.Metadata.Config;
        c.Validate();
        Config = c;
        int h = c.HiddenSize, v = c.VocabSize, l = c.NumHiddenLayers, i = c.IntermediateSize;
        Embeddings = (Half*)file.GetPointer(file.Expect("model.embeddings.weight", TensorType.F16, v, h));
        FinalNorm = Vector(file, "model.norm.weight", h);
        LmHead = BitLinear(file, "lm_head", v, h);
        float[][] lowerBounds = c.UseLowerBound
            ? LowerBounds(file.GetSpan<float>("model.lower_bounds", TensorType.F32, l, h), l, h)
            : Enumerable.Range(0, l).Select(_ => new float[h]).ToArray();
        Layers = new LayerWeights[l];
        for (int n = 0; n < l; n++)
        {
            string p = $"model.layers.{n}.";
            Layers[n] = new LayerWeights
            {
                AttnNorm = Vector(file, p + "attn_norm.weight", h),
                IProj = BitLinear(file, p + "attn.i_proj", h, h),
                FProj = BitLinear(file, p + "attn.f_proj", h, h),
                GProj = BitLinear(file, p + "attn.g_proj", h, h),
                GNorm = Vector(file, p + "attn.g_norm.weight", h),
                OProj = BitLinear(file, p + "attn.o_proj", h, h),
                MlpNorm = Vector(file, p + "mlp_norm.weight", h),
                GateProj = BitLinear(file, p + "mlp.gate_proj", 2 * i, h),
                DownProj = BitLinear(file, p + "mlp.down_proj", h, i),
                LowerBound = lowerBounds[n],
            };
        }
    }

    /// <summary>Every BitLinear layer with its tensor name (without ".weight"), in the order the forward pass runs them.</summary>
    public IEnumerable<(string Name, BitLinearWeights Layer)> BitLinearLayers
    {
        get
        {
            for (int n = 0; n < Layers.Length; n++)
            {
                var l = Layers[n];
                string p = $"model.layers.{n}.";
                yield return (p + "attn.i_proj", l.IProj);
                yield return (p + "attn.f_proj", l.FProj);
                yield return (p + "attn.g_proj", l.GProj);
                yield return (p + "attn.o_proj", l.OProj);
                yield return (p + "mlp.gate_proj", l.GateProj);
                yield return (p + "mlp.down_proj", l.DownProj);
            }
            yield return ("lm_head", LmHead);
        }
    }

    /// <summary>
    /// lb = cumsum(softmax(lower_bounds, dim=layers)) - P[0], per channel: lb[0] = 0 and the bounds grow with depth.
    /// </summary>
    public static float[][] LowerBounds(ReadOnlySpan<float> raw, int layers, int hidden)
    {
        var lb = new float[layers][];
        for (int n = 0; n < layers; n++)
            lb[n] = new float[hidden];
        var p = new float[layers];
        for (int ch = 0; ch < hidden; ch++)
        {
            float max = float.NegativeInfinity;
            for (int n = 0; n < layers; n++)
                max = MathF.Max(max, raw[n * hidden + ch]);
            float sum = 0;
            for (int n = 0; n < layers; n++)
                sum += p[n] = MathF.Exp(raw[n * hidden + ch] - max);
            float cumulative = 0;
            for (int n = 0; n < layers; n++)
            {
                cumulative += p[n] / sum;
                lb[n][ch] = cumulative - p[0] / sum;
            }
        }
        return lb;
    }

    static float[] Vector(ModelFile file, string name, int length) =>
        file.GetSpan<float>(name, TensorType.F32, length).ToArray();

    BitLinearWeights BitLinear(ModelFile file, string prefix, int rows, int columns)
    {
        string name = prefix + ".weight";
        var stored = file.GetInfo(name).Type;
        var type = TensorTypes.IsTernary(stored) ? stored : TensorType.Ternary2; // anything else fails Expect's type check
        var t = file.Expect(name, type, rows, columns);
        var norm = Vector(file, prefix + ".norm.weight", columns);
        if (type == TensorType.TernaryFiveTrit && !_readFiveTrit)
        {
            var repacked = RepackToTwoBit(file.GetPointer(t), rows, columns);
            return new BitLinearWeights(norm, new TernaryMatrix(repacked.Pointer, rows, columns, t.Scale), repacked);
        }
        return new BitLinearWeights(norm, new TernaryMatrix(file.GetPointer(t), rows, columns, t.Scale, type));
    }

    /// <summary>
    /// A 1.6-bit matrix in the 2-bit layout, in process memory (the 2-bit size), rows spread over the cores, which
    /// start-up waits for: it reads and writes every weight once, so it grows with the model (docs/PERFORMANCE.md,
    /// "1.6-bit vs 2-bit").
    /// </summary>
    static AlignedBuffer<byte> RepackToTwoBit(byte* fiveTrit, int rows, int columns)
    {
        const int rowsPerPart = 64;
        int sourceRow = FiveTritPacking.RowBytes(columns), targetRow = TernaryPacking.RowBytes(columns);
        var repacked = new AlignedBuffer<byte>(checked(rows * targetRow));
        nint source = (nint)fiveTrit;
        Parallel.For(0, (rows + rowsPerPart - 1) / rowsPerPart, part =>
        {
            var weights = new sbyte[columns];
            for (int r = part * rowsPerPart; r < Math.Min(rows, (part + 1) * rowsPerPart); r++)
            {
                FiveTritPacking.UnpackRow(new ReadOnlySpan<byte>((byte*)source + (long)r * sourceRow, sourceRow), weights);
                TernaryPacking.PackRow(weights, repacked.Span.Slice(r * targetRow, targetRow));
            }
        });
        return repacked;
    }
}
