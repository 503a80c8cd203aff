using System.Text.Json;
using Edge.Format.Container;
using Edge.Tests.Helpers;
using Edge.Tests.Packer;

namespace Edge.Tests.Cli;

public sealed class CliTests() : TinyModelTests(temp => TestModels.PackTinyCheckpoint(temp, seed: 3))
{
    [Fact]
    public void GenerateWithJsonEndsWithOneCompactObject()
    {
        var run = CliRun.Invoke("generate", "-m", _model, "-p", "Hello world", "-n", "8", "--seed", "1", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var json = JsonDocument.Parse(run.LastLine);
        var root = json.RootElement;
        int[] prompt = [.. root.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32())];
        int[] tokens = [.. root.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32())];
        Assert.Equal(TinyCheckpoint.BosTokenId, prompt[0]);
        Assert.InRange(tokens.Length, 0, 8);
        Assert.DoesNotContain(TinyCheckpoint.EosTokenId, tokens);
        // The streamed text precedes the JSON line and equals its "text".
        string streamed = run.Stdout[..run.Stdout.LastIndexOf(run.LastLine, StringComparison.Ordinal)].TrimEnd('\n');
        Assert.Equal(root.GetProperty("text").GetString(), streamed);
        Assert.Contains("tokens/s", run.Stderr);
    }

    [Fact]
    public void AOnePointSixBitModelGeneratesWhatTheTwoBitModelDoesAlsoWithOffload()
    {
        var checkpoint = TinyCheckpoint.Create(_temp.Folder("ckpt16"), new TinyCheckpointOptions { Seed = 3 });
        string model = _temp.File("tiny-1.6bit.edge");
        Assert.Equal(0, PackerRun.Invoke(checkpoint.Directory, "-o", model, "--packing", "1.6bit").ExitCode);
        string[] greedy = ["-p", "Hello world", "-n", "8", "--temp", "0", "--json"];

        var twoBit = CliRun.Invoke(["generate", "-m", _model, .. greedy]);
        var fiveTrit = CliRun.Invoke(["generate", "-m", model, .. greedy]);
        // The device takes 2-bit rows: with --offload the 1.6-bit matrices are repacked at load.
        var offloaded = CliRun.Invoke(["generate", "-m", model, "--offload", "emu", .. greedy]);

        foreach (var run in new[] { twoBit, fiveTrit, offloaded })
            Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal(twoBit.LastLine, fiveTrit.LastLine);
        Assert.Equal(twoBit.LastLine, offloaded.LastLine);
        Assert.Contains("FPGA offload to emu", offloaded.Stderr);
    }

    [Fact]
    public void TheSameSeedGivesTheSameTextAndGreedyIgnoresIt()
    {
        string Tokens(params string[] extra) => CliRun.Invoke(["generate", "-m", _model, "-p", "The", "-n", "12", "--json", .. extra]).LastLine;
        Assert.Equal(Tokens("--seed", "5", "--temp", "1.5"), Tokens("--seed", "5", "--temp", "1.5"));
        Assert.Equal(Tokens("--temp", "0", "--seed", "1"), Tokens("--temp", "0", "--seed", "2"));
        Assert.Equal(Tokens("--temp", "0"), Tokens("--temp", "0", "--no-mmap")); // read into memory: the same model
    }

    [Fact]
    public void PerplexityScoresEveryTokenAfterTheFirst()
    {
        string text = _temp.File("text.txt");
        File.WriteAllLines(text, ["In the beginning", "", "And the earth was without form"]);
        var run = CliRun.Invoke("perplexity", "-m", _model, "-f", text, "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var json = JsonDocument.Parse(run.LastLine);
        double ppl = json.RootElement.GetProperty("ppl").GetDouble();
        int scored = json.RootElement.GetProperty("tokens").GetInt32();
        Assert.True(ppl > 1 && double.IsFinite(ppl));

        var limited = CliRun.Invoke("perplexity", "-m", _model, "-f", text, "--max-tokens", "5", "--json");
        using var json5 = JsonDocument.Parse(limited.LastLine);
        Assert.Equal(4, json5.RootElement.GetProperty("tokens").GetInt32());
        Assert.True(scored > 4);
    }

    [Fact]
    public void InspectDescribesTheModelWithoutRunningIt()
    {
        var run = CliRun.Invoke("inspect", "-m", _model, "--tensors", "--verify");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("architecture: hgrn_bit", run.Stdout);
        Assert.Contains("hidden_size 64", run.Stdout);
        Assert.Contains("recurrent state per sequence", run.Stdout);
        Assert.Contains("lm_head.weight", run.Stdout);
        Assert.Contains("checksums: all", run.Stdout);
    }

    [Fact]
    public void InspectCpuNamesTheKernelTheLastLevelCacheAndWhetherNoMmapGetsHugePages()
    {
        var run = CliRun.Invoke("inspect", "--cpu");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains($"kernel: {Edge.Runtime.Kernels.KernelFactory.Default.Name}", run.Stdout);
        Assert.Contains(HugePages.SystemMode is "always" or "madvise" ? $"huge pages: --no-mmap puts the model in {HugePages.Size >> 20} MiB pages" : "--no-mmap uses 4 KiB pages", run.Stdout);
        if (Edge.Runtime.Diagnostics.CpuCaches.LastLevelBytes is long cache)
            Assert.Contains($"logical cores, last-level cache {Edge.Format.Text.ByteSize.Format(cache)}", run.Stdout);
    }

    [Fact]
    public void InspectVerifyReportsCorruption()
    {
        byte[] bytes = File.ReadAllBytes(_model);
        using (var f = Edge.Format.Container.ModelFile.Open(_model))
            bytes[f.GetInfo("lm_head.weight").Offset] ^= 0x04;
        File.WriteAllBytes(_model, bytes);
        CliRun.Invoke("inspect", "-m", _model, "--verify").AssertError("checksum mismatch", "lm_head.weight");
    }

    [Fact]
    public void UserErrorsAreOneLineWithoutAStackTrace()
    {
        CliRun.Invoke("generate", "-m", _temp.File("missing.edge"), "-p", "x").AssertError("does not exist");
        CliRun.Invoke("generate", "-m", TinyCheckpoint.FixtureTokenizerPath, "-p", "x").AssertError("Not a valid Edge model file");
        CliRun.Invoke("generate", "-m", _model, "-p", "x", "--top-p", "0").AssertError("--top-p");
        CliRun.Invoke("generate", "-m", _model, "-p", "x", "-n", "-3").AssertError("--n-predict");
        CliRun.Invoke("generate", "-m", _model, "-p", "x", "--kernel", "quantum").AssertError("quantum", "Available");
        CliRun.Invoke("generate", "-m", _model).AssertError("--prompt");
        CliRun.Invoke("perplexity", "-m", _model, "-f", _temp.File("none.txt")).AssertError("does not exist");
        CliRun.Invoke("frobnicate").AssertError("frobnicate");
    }
}
