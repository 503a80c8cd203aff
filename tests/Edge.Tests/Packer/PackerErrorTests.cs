using System.Buffers.Binary;
using Edge.Tests.Helpers;

namespace Edge.Tests.Packer;

/// <summary>Every bad input ends in one clear error line, exit code 1, and no output or temporary file.</summary>
public sealed class PackerErrorTests : CheckpointPackingFailureTests
{
    void RewriteWeights(IEnumerable<SafetensorsEntry> entries) => SafetensorsWriter.Write(SafetensorsPath, entries);

    [Fact]
    public void MissingConfig()
    {
        File.Delete(_checkpoint.ConfigPath);
        AssertPackFails("config.json does not exist");
    }

    [Fact]
    public void MissingTokenizer()
    {
        File.Delete(_checkpoint.TokenizerPath);
        AssertPackFails("tokenizer.model does not exist");
    }

    [Fact]
    public void MissingSafetensors()
    {
        File.Delete(SafetensorsPath);
        AssertPackFails("has no model.safetensors");
    }

    [Fact]
    public void MissingCheckpointFolder()
    {
        var run = PackerRun.Invoke(Path.Combine(_temp.Path, "nowhere"), "-o", Output);
        run.AssertError("nowhere", "does not exist");
    }

    [Fact]
    public void MissingShard()
    {
        using var temp = new TempDirectory();
        var sharded = TinyCheckpoint.Create(temp.Folder("ckpt"), new TinyCheckpointOptions { Hidden = 32, Layers = 1, Sharded = true });
        File.Delete(Path.Combine(sharded.Directory, "model-00002-of-00002.safetensors"));
        var run = PackerRun.Invoke(sharded.Directory, "-o", temp.File("model.edge"));
        run.AssertError("model-00002-of-00002.safetensors", "download all shards");
        Assert.False(File.Exists(temp.File("model.edge")));
    }

    [Fact]
    public void WrongArchitecture()
    {
        _checkpoint.EditConfig("model_type", "\"llama\"");
        _checkpoint.EditConfig("architectures", "[\"LlamaForCausalLM\"]");
        AssertPackFails("model_type \"llama\"", "LlamaForCausalLM", "hgrn_bit");
    }

    [Theory]
    [InlineData("attn_mode", "\"chunk\"", "attn_mode \"chunk\"")]
    [InlineData("use_short_conv", "true", "use_short_conv true")]
    [InlineData("expand_ratio", "2", "expand_ratio 2")]
    [InlineData("tie_word_embeddings", "true", "tie_word_embeddings true")]
    // Found by AFL++: a value with an escaped line break used to split the one-line error.
    [InlineData("attn_mode", "\"fused_recurr\\nt\"", "attn_mode \"fused_recurr?t\"")]
    public void UnsupportedSettings(string field, string value, string message)
    {
        _checkpoint.EditConfig(field, value);
        AssertPackFails(message, "Edge cannot run this model");
    }

    [Fact]
    public void ConfigLackingHiddenSize()
    {
        _checkpoint.EditConfig("hidden_size", null);
        AssertPackFails("config.json lacks \"hidden_size\"");
    }

    [Fact]
    public void TokenizerLargerThanVocabulary()
    {
        _checkpoint.EditConfig("vocab_size", "512");
        AssertPackFails("600 pieces", "vocab_size is 512");
    }

    [Fact]
    public void MissingTensor()
    {
        RewriteWeights(_checkpoint.Entries().Where(e => e.Name != "model.layers.1.attn.g_norm.weight"));
        AssertPackFails("lacks tensor model.layers.1.attn.g_norm.weight");
    }

    [Fact]
    public void MisshapenTensor()
    {
        const string name = "model.layers.0.mlp.down_proj.weight";
        RewriteWeights(_checkpoint.Entries().Select(e => e.Name == name ? e with { Shape = [32, 128], Data = e.Data[..(32 * 128 * 2)] } : e));
        AssertPackFails(name, "shape [32, 128]", "[32, 256]");
    }

    [Theory]
    [InlineData("F64", 8)]
    [InlineData("I8", 1)]
    public void UnsupportedDType(string dtype, int elementSize)
    {
        const string name = "model.norm.weight";
        RewriteWeights(_checkpoint.Entries().Select(e => e.Name == name ? e with { DType = dtype, Data = new byte[32 * elementSize] } : e));
        AssertPackFails(name, $"dtype {dtype}", "BF16, F16 or F32");
    }

    [Fact]
    public void TruncatedSafetensors()
    {
        long length = new FileInfo(SafetensorsPath).Length;
        using (var stream = File.OpenWrite(SafetensorsPath))
            stream.SetLength(length - 100);
        AssertPackFails("model.safetensors", "truncated");
    }

    [Fact]
    public void FileShorterThanItsHeaderLength()
    {
        File.WriteAllBytes(SafetensorsPath, [1, 2, 3]);
        AssertPackFails("model.safetensors", "only 3 bytes");
    }

    [Fact]
    public void CorruptHeaderJson()
    {
        byte[] bytes = File.ReadAllBytes(SafetensorsPath);
        bytes[8] = (byte)'[';
        bytes[9] = (byte)'?';
        File.WriteAllBytes(SafetensorsPath, bytes);
        AssertPackFails("model.safetensors", "header is not valid JSON");
    }

    [Fact]
    public void OversizedHeaderLength()
    {
        byte[] bytes = File.ReadAllBytes(SafetensorsPath);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue / 2);
        File.WriteAllBytes(SafetensorsPath, bytes);
        AssertPackFails("model.safetensors", "header claims");
    }

    [Fact]
    public void DataOffsetsThatDisagreeWithTheShape()
    {
        const string name = "model.norm.weight";
        RewriteWeights(_checkpoint.Entries().Select(e => e.Name == name ? e with { Data = new byte[10] } : e));
        AssertPackFails(name, "needs 64 bytes", "span 10");
    }

    [Theory]
    [InlineData("model.layers.1.attn.f_proj.weight", float.NaN)]
    [InlineData("model.layers.0.attn_norm.weight", float.PositiveInfinity)]
    [InlineData("model.embeddings.weight", 1e6f)]
    public void NonFiniteValuesAreRejectedMidway(string name, float bad)
    {
        RewriteWeights(_checkpoint.Entries().Select(e => e.Name == name
            ? SafetensorsWriter.Tensor(name, e.Shape, [.. _checkpoint.Weights[name][..^1], bad])
            : e));
        AssertPackFails(name, "NaN, infinite");
    }

    [Fact]
    public void RefusesToOverwrite()
    {
        File.WriteAllBytes(Output, [42]);
        var run = PackerRun.Invoke(_checkpoint.Directory, "-o", Output);
        run.AssertError("already exists", "--force");
        Assert.Equal([42], File.ReadAllBytes(Output));
        Assert.Single(Directory.EnumerateFileSystemEntries(_outputFolder));
    }

    [Fact]
    public void MissingOutputFolder()
    {
        var run = PackerRun.Invoke(_checkpoint.Directory, "-o", Path.Combine(_outputFolder, "no", "model.edge"));
        run.AssertError("does not exist", "create it first");
    }
}
