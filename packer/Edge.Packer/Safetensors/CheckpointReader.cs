using System.Text.Json;
using Edge.Format.Text;

namespace Edge.Packer.Safetensors;

/// <summary>
/// The weights of a HuggingFace checkpoint folder: either one <c>model.safetensors</c>, or shards
/// (<c>model-0000N-of-0000M.safetensors</c>) listed by the <c>weight_map</c> of <c>model.safetensors.index.json</c>.
/// </summary>
internal sealed class CheckpointReader : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    readonly List<SafetensorsFile> _files = [];
    readonly Dictionary<string, SafetensorsTensor> _tensors = new(StringComparer.Ordinal);

    /// <summary>The files the weights come from (the index first when sharded), for provenance.</summary>
    public IReadOnlyList<string> SourcePaths { get; }

    CheckpointReader(string directory)
    {
        string single = Path.Combine(directory, SingleFileName);
        string index = Path.Combine(directory, IndexFileName);
        try
        {
            if (File.Exists(index))
            {
                var shards = ReadWeightMap(index);
                var paths = new List<string> { index };
                foreach (var (shard, names) in shards)
                {
                    string path = Path.Combine(directory, shard);
                    if (!File.Exists(path))
                        throw new PackerException($"{IndexFileName} lists shard {shard}, which is not in {directory}; download all shards.");
                    var file = OpenFile(path);
                    foreach (string name in names)
                    {
                        if (!file.Tensors.TryGetValue(name, out var tensor))
                            throw new PackerException($"{IndexFileName} places tensor {name} in {shard}, but that file does not contain it.");
                        _tensors[name] = tensor;
                    }
                    paths.Add(path);
                }
                SourcePaths = paths;
            }
            else if (File.Exists(single))
            {
                var file = OpenFile(single);
                foreach (var (name, tensor) in file.Tensors)
                    _tensors[name] = tensor;
                SourcePaths = [single];
            }
            else
            {
                bool shardsWithoutIndex = Directory.EnumerateFiles(directory, "model-*.safetensors").Any();
                throw new PackerException(shardsWithoutIndex
                    ? $"{directory} has sharded model-*.safetensors files but no {IndexFileName}; download the index file too."
                    : $"{directory} has no {SingleFileName} (nor sharded model-*.safetensors with {IndexFileName}); point edge-pack at a HuggingFace checkpoint folder.");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Opens and validates every weight file of a checkpoint folder.</summary>
    public static CheckpointReader Open(string directory) => new(directory);

    /// <summary>Names of all tensors in the checkpoint.</summary>
    public IEnumerable<string> TensorNames => _tensors.Keys;

    /// <summary>A tensor that must exist with exactly this shape.</summary>
    public SafetensorsTensor Get(string name, params long[] shape)
    {
        if (!_tensors.TryGetValue(name, out var tensor))
            throw new PackerException($"The checkpoint lacks tensor {name}; is it a complete HGRNBitForCausalLM checkpoint?");
        if (!tensor.Shape.AsSpan().SequenceEqual(shape))
            throw new PackerException($"Tensor {name} in {tensor.File.FileName} has shape {tensor.ShapeText}; config.json implies {SafetensorsTensor.FormatShape(shape)}.");
        return tensor;
    }

    SafetensorsFile OpenFile(string path)
    {
        var file = SafetensorsFile.Open(path);
        _files.Add(file);
        return file;
    }

    /// <summary>Shard file name → tensor names, shards in file-name order (model-00001-of-… first).</summary>
    static List<(string Shard, List<string> Names)> ReadWeightMap(string indexPath)
    {
        JsonDocument doc;
        try
        {
            doc = StrictJson.Parse(File.ReadAllBytes(indexPath), IndexFileName);
        }
        catch (InvalidDataException e)
        {
            throw new PackerException($"{e.Message.TrimEnd('.')}; fix it or download it again.");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new PackerException($"{IndexFileName} has no \"weight_map\" object.");
            var shards = new List<(string Shard, List<string> Names)>();
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new PackerException($"{IndexFileName} maps tensor {entry.Name} to something other than a file name.");
                string shard = entry.Value.GetString()!;
                if (shard.Length == 0 || Path.GetFileName(shard) != shard)
                    throw new PackerException($"{IndexFileName} maps tensor {entry.Name} to \"{shard}\", which is not a file name in the checkpoint folder.");
                int at = shards.FindIndex(s => s.Shard == shard);
                if (at < 0)
                {
                    shards.Add((shard, []));
                    at = shards.Count - 1;
                }
                shards[at].Names.Add(entry.Name);
            }
            shards.Sort((a, b) => string.CompareOrdinal(a.Shard, b.Shard));
            return shards;
        }
    }

    public void Dispose()
    {
        foreach (var file in _files)
            file.Dispose();
        _files.Clear();
    }
}
