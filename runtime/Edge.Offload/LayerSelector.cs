using Edge.Runtime.Model;

namespace Edge.Offload;

/// <summary>
/// Which BitLinear layers to offload: <c>fit</c> (as many as the device holds, in model order), a block range such as
/// <c>0-3</c> or <c>2</c> (every BitLinear of those blocks), or comma-separated tensor-name globs such as
/// <c>model.layers.*.attn.o_proj,lm_head</c> (<c>*</c> is any run of characters, <c>?</c> one character).
/// </summary>
internal sealed class LayerSelector
{
    readonly int _firstBlock = -1, _lastBlock = -1;
    readonly string[] _globs = [];

    LayerSelector(string text) => Text = text;

    LayerSelector(string text, int first, int last) : this(text)
    {
        _firstBlock = first;
        _lastBlock = last;
    }

    LayerSelector(string text, string[] globs) : this(text) => _globs = globs;

    public string Text { get; }

    /// <summary>True for <c>fit</c>: layers that do not fit are skipped instead of being an error.</summary>
    public bool Fit => _firstBlock < 0 && _globs.Length == 0;

    public static LayerSelector Parse(string text)
    {
        string t = text.Trim();
        if (t.Length == 0)
            throw new ArgumentException("--offload-layers is empty; use fit, a block range like 0-3, or tensor-name globs like model.layers.*.attn.o_proj.");
        if (t.Equals("fit", StringComparison.OrdinalIgnoreCase))
            return new LayerSelector("fit");
        if (char.IsAsciiDigit(t[0]))
        {
            var parts = t.Split('-');
            if (parts.Length <= 2 && parts.All(p => int.TryParse(p, out int v) && v >= 0))
            {
                int first = int.Parse(parts[0]), last = int.Parse(parts[^1]);
                if (last < first)
                    throw new ArgumentException($"Block range \"{t}\" runs backwards; write it as {last}-{first}.");
                return new LayerSelector(t, first, last);
            }
            throw new ArgumentException($"\"{t}\" is not a block range; write it as 0-3 (blocks 0 to 3) or 2 (block 2).");
        }
        var globs = t.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return new LayerSelector(t, globs);
    }

    /// <summary>The selected layers in model order; an error if a range or glob selects nothing.</summary>
    public IReadOnlyList<(string Name, BitLinearWeights Layer)> Select(HgrnBitWeights weights)
    {
        var all = weights.BitLinearLayers.ToList();
        if (Fit)
            return all;
        if (_firstBlock >= 0)
        {
            int blocks = weights.Layers.Length;
            if (_lastBlock >= blocks)
                throw new ArgumentException($"Block range {Text} is outside the model's {blocks} blocks (0-{blocks - 1}).");
            var prefixes = Enumerable.Range(_firstBlock, _lastBlock - _firstBlock + 1).Select(b => $"model.layers.{b}.").ToArray();
            return all.Where(l => prefixes.Any(p => l.Name.StartsWith(p, StringComparison.Ordinal))).ToList();
        }
        foreach (var glob in _globs)
            if (!all.Any(l => Matches(glob, l.Name)))
                throw new ArgumentException(
                    $"\"{glob}\" matches no BitLinear layer; names look like {all[0].Name}, {all[^2].Name}, {all[^1].Name}.");
        return all.Where(l => _globs.Any(g => Matches(g, l.Name))).ToList();
    }

    /// <summary>Glob match over the whole name: <c>*</c> any run of characters, <c>?</c> exactly one.</summary>
    public static bool Matches(string glob, string name)
    {
        int g = 0, n = 0, star = -1, mark = 0;
        while (n < name.Length)
        {
            if (g < glob.Length && (glob[g] == '?' || glob[g] == name[n]))
            {
                g++;
                n++;
            }
            else if (g < glob.Length && glob[g] == '*')
            {
                star = g++;
                mark = n;
            }
            else if (star >= 0)
            {
                g = star + 1;
                n = ++mark;
            }
            else
            {
                return false;
            }
        }
        while (g < glob.Length && glob[g] == '*')
            g++;
        return g == glob.Length;
    }

    public override string ToString() => Text;
}
