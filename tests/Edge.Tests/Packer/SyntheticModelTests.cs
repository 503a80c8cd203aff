using Edge.Format.Container;
using Edge.Format.Numerics;
using Edge.Packer;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;
using Edge.Tests.Helpers;

namespace Edge.Tests.Packer;

public class SyntheticModelTests
{
    [Theory]
    [InlineData("370m", 1024, 24, 2816, 374_108_160L)]
    [InlineData("1.3b", 2048, 24, 5632, 1_364_779_008L)]
    [InlineData("2.7b", 2560, 32, 6912, 2_702_357_504L)]
    public void PresetsHaveTheOfficialShapes(string preset, int hidden, int layers, int intermediate, long parameters)
    {
        var shape = SyntheticShape.Presets[preset];
        Assert.Equal((hidden, layers, intermediate, 32000), (shape.Hidden, shape.Layers, shape.Intermediate, shape.Vocab));
        var tensors = ModelLayout.Tensors(shape.ToConfig());
        Assert.Equal(15 * layers + 5, tensors.Count);
        // The parameter count the spec derives from the released checkpoints' tensor shapes.
        Assert.Equal(parameters, tensors.Sum(t => t.Shape.Aggregate(1L, (a, d) => a * d)));
    }

    [Fact]
    public void CustomDimensionsGiveEveryTensorItsShape()
    {
        using var temp = new TempDirectory();
        string output = temp.File("synth.edge");

        var run = PackerRun.Invoke("synth", "--hidden", "64", "--layers", "3", "--vocab", "640", "-o", output, "--seed", "5");

        Assert.Equal(0, run.ExitCode);
        using var file = ModelFile.Open(output);
        var config = file.Metadata.Config;
        Assert.Equal(new HgrnBitConfig { HiddenSize = 64, NumHiddenLayers = 3, VocabSize = 640, IntermediateSize = 256 }, config);
        Assert.Contains("placeholder", file.Metadata.Name);
        Assert.Equal("edge-pack 0.1.0", file.Metadata.Packer);
        var expected = ModelLayout.Tensors(config);
        Assert.Equal(["tokenizer.model", .. expected.Select(t => t.Name)], file.Tensors.Select(t => t.Name));
        foreach (var planned in expected)
        {
            var info = file.Expect(planned.Name, planned.Type, planned.Shape);
            if (info.Type == TensorType.Ternary2)
                AssertRealisticTernary(file, info);
        }
        Assert.Empty(file.VerifyChecksums());
    }

    static void AssertRealisticTernary(ModelFile file, TensorInfo info)
    {
        int rows = (int)info.Shape[0], columns = (int)info.Shape[1];
        Assert.InRange(info.Scale * Math.Sqrt(columns), 0.74, 1.26);
        var codes = new sbyte[columns];
        int rowBytes = TernaryPacking.RowBytes(columns);
        long zeros = 0;
        for (int r = 0; r < rows; r++)
        {
            TernaryPacking.UnpackRow(file.GetBytes(info).Slice(r * rowBytes, rowBytes), codes);
            zeros += codes.Count(c => c == 0);
        }
        Assert.InRange(zeros / (double)(rows * columns), 0.25, 0.45);
    }

    [Fact]
    public void SameSeedGivesTheSameFileAndAnotherSeedDoesNot()
    {
        using var temp = new TempDirectory();
        string[] dims = ["synth", "--hidden", "32", "--layers", "2", "--vocab", "512", "--intermediate", "96", "--name", "fixed"];
        Assert.Equal(0, PackerRun.Invoke([.. dims, "--seed", "3", "-o", temp.File("a.edge")]).ExitCode);
        Assert.Equal(0, PackerRun.Invoke([.. dims, "--seed", "3", "-o", temp.File("b.edge")]).ExitCode);
        Assert.Equal(0, PackerRun.Invoke([.. dims, "--seed", "4", "-o", temp.File("c.edge")]).ExitCode);

        byte[] a = File.ReadAllBytes(temp.File("a.edge"));
        Assert.Equal(a, File.ReadAllBytes(temp.File("b.edge")));
        Assert.NotEqual(a, File.ReadAllBytes(temp.File("c.edge")));
    }

    [Fact]
    public async Task SyntheticModelLoadsAndGenerates()
    {
        using var temp = new TempDirectory();
        string output = temp.File("synth.edge");
        Assert.Equal(0, PackerRun.Invoke("synth", "--hidden", "64", "--layers", "2", "--vocab", "576", "-o", output).ExitCode);

        using var model = EdgeModel.Load(output, new LoadOptions { Threads = 1, VerifyChecksums = true });
        Assert.Equal(512, model.Tokenizer.VocabularySize);
        var generator = new Generator(model);
        var request = new GenerationRequest { Prompt = "The licence", MaxTokens = 4, Sampling = SamplingOptions.Greedy };
        var result = await generator.CompleteAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(model.Tokenizer.Encode("The licence"), result.PromptTokens);
        Assert.True(result.StoppedAtEos || result.Tokens.Length == 4);
        Assert.All(result.Tokens, t => Assert.InRange(t, 0, 575));
    }

    [Fact]
    public async Task OnePointSixBitPackingHoldsTheSameWeightsAndGeneratesTheSameTokens()
    {
        using var temp = new TempDirectory();
        string[] dims = ["synth", "--hidden", "352", "--layers", "2", "--vocab", "576", "--seed", "9"];
        Assert.Equal(0, PackerRun.Invoke([.. dims, "-o", temp.File("2bit.edge")]).ExitCode);
        Assert.Equal(0, PackerRun.Invoke([.. dims, "-o", temp.File("1.6bit.edge"), "--packing", "1.6bit"]).ExitCode);

        using (var twoBit = ModelFile.Open(temp.File("2bit.edge")))
        using (var fiveTrit = ModelFile.Open(temp.File("1.6bit.edge")))
        {
            Assert.Empty(fiveTrit.VerifyChecksums());
            var ternary = twoBit.Tensors.Where(t => t.Type == TensorType.Ternary2).ToList();
            Assert.Equal(ternary.Select(t => t.Name), fiveTrit.Tensors.Where(t => t.Type == TensorType.TernaryFiveTrit).Select(t => t.Name));
            foreach (var info in ternary)
            {
                var other = fiveTrit.GetInfo(info.Name);
                Assert.Equal(info.Scale, other.Scale);
                Assert.Equal(info.Shape, other.Shape);
                int columns = (int)info.Shape[1], rowBytes = TernaryPacking.RowBytes(columns), otherRowBytes = FiveTritPacking.RowBytes(columns);
                var expected = new sbyte[columns];
                var actual = new sbyte[columns];
                for (int r = 0; r < info.Shape[0]; r++)
                {
                    TernaryPacking.UnpackRow(twoBit.GetBytes(info).Slice(r * rowBytes, rowBytes), expected);
                    FiveTritPacking.UnpackRow(fiveTrit.GetBytes(other).Slice(r * otherRowBytes, otherRowBytes), actual);
                    Assert.Equal(expected, actual);
                }
            }
            Assert.True(new FileInfo(temp.File("1.6bit.edge")).Length < new FileInfo(temp.File("2bit.edge")).Length);
        }

        var tokens = new List<int[]>();
        foreach (var (file, repack) in new[] { ("2bit.edge", false), ("1.6bit.edge", false), ("1.6bit.edge", true) })
        {
            using var model = EdgeModel.Load(temp.File(file), new LoadOptions { Threads = 2, RepackFiveTrit = repack });
            var generator = new Generator(model);
            var request = new GenerationRequest { Prompt = "The licence", MaxTokens = 12, Sampling = SamplingOptions.Greedy };
            var result = await generator.CompleteAsync(request, TestContext.Current.CancellationToken);
            tokens.Add(result.Tokens);
        }
        Assert.Equal(tokens[0], tokens[1]);
        Assert.Equal(tokens[0], tokens[2]);
    }

    [Fact]
    public void AnUnknownPackingIsRefusedWithTheChoices()
    {
        using var temp = new TempDirectory();
        var run = PackerRun.Invoke("synth", "--hidden", "64", "--layers", "1", "--vocab", "600", "--packing", "1bit", "-o", temp.File("x.edge"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("'1bit' not recognized", run.Stderr + run.Stdout);
        Assert.Contains("'1.6bit'", run.Stderr + run.Stdout);
        Assert.Empty(Directory.EnumerateFileSystemEntries(temp.Path));
    }

    [Theory]
    [InlineData(new[] { "synth", "-o", "x.edge" }, "Give --preset")]
    [InlineData(new[] { "synth", "--preset", "370m", "--hidden", "8", "-o", "x.edge" }, "not both")]
    [InlineData(new[] { "synth", "--hidden", "64", "--layers", "1", "--vocab", "100", "-o", "x.edge" }, "512 pieces")]
    [InlineData(new[] { "synth", "--hidden", "0", "--layers", "1", "--vocab", "600", "-o", "x.edge" }, "--hidden 0")]
    public void BadSynthOptionsAreExplained(string[] args, string message)
    {
        using var temp = new TempDirectory();
        string[] inTemp = args.Select(a => a == "x.edge" ? temp.File(a) : a).ToArray();
        PackerRun.Invoke(inTemp).AssertError(message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(temp.Path));
    }
}
