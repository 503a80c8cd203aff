using System.Buffers.Binary;
using System.Security.Cryptography;
using Edge.Format.Container;
using Edge.Format.Numerics;
using Edge.Packer;
using Edge.Tests.Helpers;

namespace Edge.Tests.Packer;

public class CheckpointPackerTests
{
    [Theory]
    [InlineData(false, "BF16", "torch_dtype", true, "2bit")]
    [InlineData(true, "BF16", "dtype", true, "2bit")]
    [InlineData(false, "F16", "torch_dtype", false, "2bit")]
    [InlineData(false, "F32", "dtype", true, "2bit")]
    [InlineData(false, "BF16", "torch_dtype", true, "1.6bit")]
    public void PackedFileHoldsTheCheckpoint(bool sharded, string dtype, string dtypeKey, bool lowerBound, string packing)
    {
        using var temp = new TempDirectory();
        var checkpoint = TinyCheckpoint.Create(temp.Folder("ckpt"), new TinyCheckpointOptions
        {
            Sharded = sharded, WeightDType = dtype, DTypeKey = dtypeKey, UseLowerBound = lowerBound, Seed = 7,
        });
        string output = temp.File("tiny.edge");

        var run = PackerRun.Invoke(checkpoint.Directory, "-o", output, "--packing", packing);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("edge-pack: wrote", run.Stdout);
        Assert.Matches(@"\[ *1/\d+\] tokenizer\.model Bytes", run.Stderr);
        using var file = ModelFile.Open(output);
        Assert.Empty(file.VerifyChecksums());

        var m = file.Metadata;
        Assert.Equal(checkpoint.Config, m.Config);
        Assert.Equal(256, m.Config.IntermediateSize);
        Assert.Equal(640, m.Config.VocabSize);
        Assert.Equal(TinyCheckpoint.Name, m.Name);
        Assert.Equal("edge-pack 0.1.0", m.Packer);
        Assert.Equal(new TokenizerInfo { BosTokenId = 1, EosTokenId = 2, UnkTokenId = 0 }, m.Tokenizer);
        var expectedSources = new List<string> { "config.json", "tokenizer.model" };
        expectedSources.AddRange(sharded
            ? ["model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
            : ["model.safetensors"]);
        Assert.Equal(expectedSources, m.Sources.Select(s => s.Name));
        foreach (var source in m.Sources)
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(checkpoint.Directory, source.Name));
            Assert.Equal(bytes.Length, source.Bytes);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), source.Sha256);
        }

        Assert.Equal(["tokenizer.model", .. checkpoint.TensorNames], file.Tensors.Select(t => t.Name));
        Assert.Equal(15 * checkpoint.Config.NumHiddenLayers + (lowerBound ? 6 : 5), file.Tensors.Count);
        Assert.Equal(File.ReadAllBytes(checkpoint.TokenizerPath), file.GetBytes(file.Expect("tokenizer.model", TensorType.Bytes, new FileInfo(checkpoint.TokenizerPath).Length)).ToArray());
        foreach (string name in checkpoint.TensorNames)
            AssertTensor(file, name, checkpoint.Shapes[name], checkpoint.Weights[name], packing == "1.6bit" ? TensorType.TernaryFiveTrit : TensorType.Ternary2);
    }

    static void AssertTensor(ModelFile file, string name, long[] shape, float[] latent, TensorType ternary)
    {
        var info = file.GetInfo(name);
        Assert.Equal(shape, info.Shape);
        var bytes = file.GetBytes(info);
        if (name == "model.embeddings.weight")
        {
            Assert.Equal(TensorType.F16, info.Type);
            for (int i = 0; i < latent.Length; i++)
                Assert.Equal(FloatFormats.SingleToHalf(latent[i]), BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
        }
        else if (shape.Length == 2 && name != "model.lower_bounds")
        {
            Assert.Equal(ternary, info.Type);
            AssertTernary(info, bytes, latent);
        }
        else
        {
            Assert.Equal(TensorType.F32, info.Type);
            for (int i = 0; i < latent.Length; i++)
                Assert.Equal(latent[i], BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]));
        }
    }

    static void AssertTernary(TensorInfo info, ReadOnlySpan<byte> packed, float[] latent)
    {
        // The scale is the absmean of the latent weights, computed independently here in float64.
        double absMean = latent.Average(v => Math.Abs((double)v));
        Assert.Equal((float)absMean, info.Scale);
        Assert.Equal(TernaryQuantizer.AbsMeanScale(latent), info.Scale);

        int rows = (int)info.Shape[0], columns = (int)info.Shape[1];
        int rowBytes = TensorTypes.TernaryRowBytes(info.Type, columns);
        var expected = new sbyte[columns];
        var actual = new sbyte[columns];
        long nonZero = 0;
        for (int r = 0; r < rows; r++)
        {
            var row = latent.AsSpan(r * columns, columns);
            TernaryQuantizer.Ternarize(row, info.Scale, expected);
            TensorTypes.UnpackTernaryRow(info.Type, packed.Slice(r * rowBytes, rowBytes), actual);
            Assert.Equal(expected, actual);
            nonZero += actual.Count(t => t != 0);
        }
        // Zero and non-zero codes both occur, so a scale re-derived from the ternary values (issue #18) would differ.
        Assert.InRange(nonZero, 1, (long)rows * columns - 1);
    }

    [Fact]
    public void ExplicitIntermediateSizeAndNameAreUsed()
    {
        using var temp = new TempDirectory();
        var checkpoint = TinyCheckpoint.Create(temp.Folder("ckpt"), new TinyCheckpointOptions { Intermediate = 128, Hidden = 32, Layers = 1, Vocab = 600 });
        string output = temp.File("tiny.edge");

        var run = PackerRun.Invoke(checkpoint.Directory, "-o", output, "--name", "my model");

        Assert.Equal(0, run.ExitCode);
        using var file = ModelFile.Open(output);
        Assert.Equal("my model", file.Metadata.Name);
        Assert.Equal(128, file.Metadata.Config.IntermediateSize);
        Assert.Equal([2L * 128, 32], file.GetInfo("model.layers.0.mlp.gate_proj.weight").Shape);
        Assert.Equal([32L, 128], file.GetInfo("model.layers.0.mlp.down_proj.weight").Shape);
    }

    [Fact]
    public void ForceOverwritesAnExistingOutput()
    {
        using var temp = new TempDirectory();
        var checkpoint = TinyCheckpoint.Create(temp.Folder("ckpt"), new TinyCheckpointOptions { Layers = 1 });
        string output = temp.File("tiny.edge");
        File.WriteAllText(output, "keep me");

        var refused = PackerRun.Invoke(checkpoint.Directory, "-o", output);
        refused.AssertError("already exists", "--force");
        Assert.Equal("keep me", File.ReadAllText(output));

        var forced = PackerRun.Invoke(checkpoint.Directory, "-o", output, "--force");
        Assert.Equal(0, forced.ExitCode);
        using var file = ModelFile.Open(output);
        Assert.Equal(checkpoint.Config, file.Metadata.Config);
    }

    [Fact]
    public void CancellingMidwayLeavesNoOutputAndNoTemporaryFile()
    {
        using var temp = new TempDirectory();
        var checkpoint = TinyCheckpoint.Create(temp.Folder("ckpt"), new TinyCheckpointOptions { Layers = 1 });
        string outputFolder = temp.Folder("out");
        using var cancel = new CancellationTokenSource();
        var progress = new CancelAfterLines(cancel, lines: 6);

        Assert.Throws<OperationCanceledException>(() =>
            new CheckpointPacker(progress).Pack(checkpoint.Directory, Path.Combine(outputFolder, "tiny.edge"), null, force: false, cancel.Token));

        Assert.True(progress.Lines >= 6);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outputFolder));
    }

    /// <summary>A progress writer that cancels the pack after some lines, i.e. after tensors were already written.</summary>
    sealed class CancelAfterLines(CancellationTokenSource cancel, int lines) : StringWriter
    {
        public int Lines { get; private set; }

        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (++Lines == lines)
                cancel.Cancel();
        }
    }
}
