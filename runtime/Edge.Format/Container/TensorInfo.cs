namespace Edge.Format.Container;

/// <summary>One entry of the tensor table.</summary>
/// <param name="Name">The checkpoint's tensor name (for example <c>model.layers.0.attn.i_proj.weight</c>).</param>
/// <param name="Type">Element type.</param>
/// <param name="Shape">Logical shape in PyTorch order ([out, in] for weight matrices).</param>
/// <param name="Offset">Absolute file offset of the data, a multiple of <see cref="ModelFileLayout.Alignment"/>.</param>
/// <param name="Length">Data length in bytes.</param>
/// <param name="Scale">For ternary types (<see cref="TensorTypes.IsTernary"/>): the absmean scale (a code t stands for t × Scale); otherwise 0.</param>
/// <param name="Crc32">CRC-32 (IEEE) of the data bytes.</param>
internal sealed record TensorInfo(string Name, TensorType Type, long[] Shape, long Offset, long Length, float Scale, uint Crc32)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
