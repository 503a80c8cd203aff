using Edge.Format.Container;

namespace Edge.Packer;

/// <summary>A tensor of the output file: its checkpoint name, stored type and PyTorch shape.</summary>
internal sealed record PlannedTensor(string Name, TensorType Type, long[] Shape);

/// <summary>The tensors of an HGRN-Bit model file, in model order (the official checkpoint names, docs/format.md "Tensors of an `hgrn_bit` model"; norms fp32, BitLinear weights ternary).</summary>
internal static class ModelLayout
{
    public const string TokenizerTensor = "tokenizer.model";

    /// <param name="ternary">The packed layout of every BitLinear weight: <see cref="TensorType.Ternary2"/> or <see cref="TensorType.TernaryFiveTrit"/>.</param>
    public static IReadOnlyList<PlannedTensor> Tensors(HgrnBitConfig c, TensorType ternary = TensorType.Ternary2)
    {
        if (!TensorTypes.IsTernary(ternary))
            throw new ArgumentException($"{ternary} is not a ternary layout.", nameof(ternary));
        long h = c.HiddenSize, v = c.VocabSize, l = c.NumHiddenLayers, i = c.IntermediateSize;
        var list = new List<PlannedTensor> { new("model.embeddings.weight", TensorType.F16, [v, h]) };
        if (c.UseLowerBound)
            list.Add(new("model.lower_bounds", TensorType.F32, [l, h]));
        for (int n = 0; n < l; n++)
        {
            string p = $"model.layers.{n}.";
            list.Add(Vector(p + "attn_norm.weight", h));
            AddBitLinear(list, ternary, p + "attn.i_proj", h, h);
            AddBitLinear(list, ternary, p + "attn.f_proj", h, h);
            AddBitLinear(list, ternary, p + "attn.g_proj", h, h);
            list.Add(Vector(p + "attn.g_norm.weight", h));
            AddBitLinear(list, ternary, p + "attn.o_proj", h, h);
            list.Add(Vector(p + "mlp_norm.weight", h));
            AddBitLinear(list, ternary, p + "mlp.gate_proj", 2 * i, h);
            AddBitLinear(list, ternary, p + "mlp.down_proj", h, i);
        }
        list.Add(Vector("model.norm.weight", h));
        AddBitLinear(list, ternary, "lm_head", v, h);
        return list;
    }

    static PlannedTensor Vector(string name, long length) => new(name, TensorType.F32, [length]);

    /// <summary>A BitLinear owns its ternary weight [out, in] and the RMSNorm weight [in] applied to its input.</summary>
    static void AddBitLinear(List<PlannedTensor> list, TensorType ternary, string prefix, long rows, long columns)
    {
        list.Add(new(prefix + ".weight", ternary, [rows, columns]));
        list.Add(Vector(prefix + ".norm.weight", columns));
    }
}
