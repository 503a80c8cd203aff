using Edge.Format.Container;
using Edge.Packer.Safetensors;

namespace Edge.Packer;

/// <summary>One progress line per written tensor: "[  3/485] name type [shape] scale".</summary>
internal sealed class PackProgress(TextWriter output, int total)
{
    int _done;

    public void Tensor(string name, TensorType type, long[] shape, float? scale = null)
    {
        _done++;
        string scaleText = scale is float s ? $"  scale {s:G6}" : "";
        output.WriteLine($"  [{_done.ToString().PadLeft(total.ToString().Length)}/{total}] {name} {type} {SafetensorsTensor.FormatShape(shape)}{scaleText}");
    }
}
