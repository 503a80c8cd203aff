using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Edge.Format.Container;
using Edge.Tests.Helpers;

namespace Edge.Tests.Packer;

/// <summary>
/// Inputs found by mutation probes and fuzzing (docs/RELIABILITY.md) that once crashed edge-pack or were accepted
/// silently, and the packer's behaviour when it is killed or the disk fills up.
/// </summary>
public sealed class PackerHardeningTests : CheckpointPackingFailureTests
{
    /// <summary>Rewrites the safetensors header (as text, then as bytes), keeping the data after it.</summary>
    void EditHeader(Func<string, string> text, Func<byte[], byte[]>? bytes = null)
    {
        byte[] file = File.ReadAllBytes(SafetensorsPath);
        int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        byte[] header = Encoding.UTF8.GetBytes(text(Encoding.UTF8.GetString(file, 8, length)));
        header = bytes?.Invoke(header) ?? header;
        var result = new byte[8 + header.Length + file.Length - 8 - length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)header.Length);
        header.CopyTo(result, 8);
        file.AsSpan(8 + length).CopyTo(result.AsSpan(8 + header.Length));
        File.WriteAllBytes(SafetensorsPath, result);
    }

    void EditEntry(string tensor, Action<JsonObject> change) => EditHeader(h =>
    {
        var root = JsonNode.Parse(h)!.AsObject();
        change(root[tensor]!.AsObject());
        return root.ToJsonString();
    });

    static void SetOffsets(JsonObject entry, long start, long end) => entry["data_offsets"] = new JsonArray(start, end);

    static (long Start, long End) Offsets(JsonObject entry) =>
        ((long)entry["data_offsets"]![0]!, (long)entry["data_offsets"]![1]!);

    [Fact]
    public void DataOffsetsNearTwoToTheSixtyThreeAreRefused()
    {
        // Both offsets huge, their difference right: the old bounds check added the data start and wrapped.
        EditEntry("model.norm.weight", e =>
        {
            var (start, end) = Offsets(e);
            SetOffsets(e, long.MaxValue - 8 - (end - start), long.MaxValue - 8);
        });
        AssertPackFails("model.norm.weight", "ends at byte");
    }

    [Fact]
    public void InvalidUtf8InATensorNameIsRefused()
    {
        EditHeader(h => h.Replace("model.norm.weight", "model.norm.weigh\u00ff"), b =>
        {
            int at = b.AsSpan().IndexOf("weigh\u00ff"u8) + 5;
            return [.. b[..at], 0xFF, .. b[(at + 2)..]]; // a lone 0xFF byte instead of U+00FF's two
        });
        AssertPackFails("model.safetensors", "not valid UTF-8");
    }

    [Fact]
    public void AnEscapedLoneSurrogateInATensorNameIsRefused()
    {
        EditHeader(h => h.Replace("\"model.norm.weight\"", "\"model.norm.weight\\ud800\""));
        AssertPackFails("model.safetensors", "not valid Unicode");
    }

    [Fact]
    public void ATensorNameWithALineBreakIsRefusedWithoutPrintingIt()
    {
        EditHeader(h => h.Replace("\"model.norm.weight\"", "\"model.norm\\nweight\""));
        AssertPackFails("model.safetensors", "control characters");
    }

    [Fact]
    public void InvalidUtf8InConfigIsRefused()
    {
        byte[] config = File.ReadAllBytes(_checkpoint.ConfigPath);
        int at = config.AsSpan().IndexOf("hgrn_bit"u8);
        config[at + 1] = 0xC3; // a lead byte followed by an ASCII letter
        File.WriteAllBytes(_checkpoint.ConfigPath, config);
        AssertPackFails("config.json", "not valid UTF-8");
    }

    [Fact]
    public void OverlappingTensorsAreRefused()
    {
        EditEntry("model.norm.weight", e =>
        {
            var (start, end) = Offsets(e);
            SetOffsets(e, start - 64, end - 64);
        });
        AssertPackFails("overlap");
    }

    [Fact]
    public void ShiftedOffsetsAreRefused()
    {
        EditHeader(h =>
        {
            var root = JsonNode.Parse(h)!.AsObject();
            foreach (var (_, value) in root)
                if (value is JsonObject entry && entry.ContainsKey("data_offsets"))
                {
                    var (start, end) = Offsets(entry);
                    SetOffsets(entry, start + 2, end + 2);
                }
            return root.ToJsonString();
        });
        File.AppendAllBytes(SafetensorsPath, new byte[2]);
        AssertPackFails("belong to no tensor", "shifted");
    }

    [Fact]
    public void BytesThatNoTensorClaimsAreRefused()
    {
        File.AppendAllBytes(SafetensorsPath, new byte[16]);
        AssertPackFails("last 16 bytes", "belong to no tensor");
    }

    [Fact]
    public void ATokenizerTheRuntimeCannotLoadIsRefusedBeforeWriting()
    {
        byte[] tokenizer = File.ReadAllBytes(_checkpoint.TokenizerPath);
        File.WriteAllBytes(_checkpoint.TokenizerPath, tokenizer[..(tokenizer.Length / 2)]);
        AssertPackFails("tokenizer.model", "is not a SentencePiece model Edge can load");
    }

    [Fact]
    public void APartialFileAKilledRunLeftIsReusedAndStaleLegacyOnesRemoved()
    {
        File.WriteAllBytes(Output + ModelFileWriter.PartialSuffix, new byte[1 << 16]);
        string legacy = Output + ModelFileWriter.PartialSuffix + "-" + int.MaxValue; // no such process
        File.WriteAllBytes(legacy, new byte[1 << 16]);
        string live = Output + ModelFileWriter.PartialSuffix + "-" + Environment.ProcessId;
        File.WriteAllBytes(live, []);
        var run = PackerRun.Invoke(_checkpoint.Directory, "-o", Output);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal(["model.edge", Path.GetFileName(live)], Directory.GetFiles(_outputFolder).Select(Path.GetFileName).Order());
        using var model = ModelFile.Open(Output);
        Assert.Empty(model.VerifyChecksums());
    }

    [Fact]
    public void ASecondWriterOfTheSameOutputIsRefusedWithoutHarmingTheFirst()
    {
        var metadata = new ModelMetadata { Config = _checkpoint.Config };
        using var first = ModelFileWriter.Create(Output, metadata);
        first.AddTensor("blob", TensorType.Bytes, [3], [1, 2, 3]);
        var e = Assert.Throws<IOException>(() => ModelFileWriter.Create(Output, metadata));
        Assert.Contains("another edge-pack is writing", e.Message);
        first.Commit();
        using var file = ModelFile.Open(Output);
        Assert.Equal([1, 2, 3], file.GetBytes(file.GetInfo("blob")).ToArray());
    }

    /// <summary>
    /// edge-pack (the real process) killed with SIGKILL at random moments of a pack: never a file under the output
    /// name unless complete and valid, at most the one reusable temporary file, and the next run finishes cleanly.
    /// </summary>
    [Fact]
    public void SigkillAtRandomPointsNeverLeavesAnOutputFile()
    {
        if (!OperatingSystem.IsLinux())
            return;
        string packer = Path.Combine(AppContext.BaseDirectory, "edge-pack");
        string[] args = ["synth", "--hidden", "512", "--layers", "4", "--vocab", "4096", "--force", "-o", Output];
        // One whole run first: the kills then land at random moments inside its duration.
        var clock = Stopwatch.StartNew();
        Assert.Equal(0, RunToEnd(packer, args));
        double whole = clock.Elapsed.TotalMilliseconds;
        var random = new Random(23);
        int killedMidway = 0;
        for (int round = 0; round < 8; round++)
        {
            File.Delete(Output);
            using var process = Process.Start(new ProcessStartInfo(packer, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            Thread.Sleep(TimeSpan.FromMilliseconds(whole * (0.05 + 0.9 * random.NextDouble())));
            process.Kill(); // SIGKILL: no handler runs, nothing is cleaned up
            process.WaitForExit();
            if (File.Exists(Output))
            {
                using var model = ModelFile.Open(Output); // only a complete file may carry the name
                Assert.Empty(model.VerifyChecksums());
            }
            else
                killedMidway++;
            Assert.All(Directory.GetFiles(_outputFolder), f => Assert.True(f == Output || f == Output + ModelFileWriter.PartialSuffix, f));
        }
        Assert.Equal(0, RunToEnd(packer, args));
        Assert.Equal([Output], Directory.GetFiles(_outputFolder));
        Assert.True(killedMidway > 0, "no kill landed before the end of a pack; the test no longer tests killing mid-write");
    }

    static int RunToEnd(string program, string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode;
    }

    /// <summary>A pack onto a 1 MiB tmpfs: one error line naming the full disk, no output and no temporary file.</summary>
    [Fact]
    public void AFullDiskGivesOneClearLine()
    {
        string mount = _temp.Folder("tiny-disk");
        if (!OperatingSystem.IsLinux() || !TryRun("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount))
            Assert.Skip("mounting a small tmpfs needs root (or is not permitted here)");
        try
        {
            string output = Path.Combine(mount, "model.edge");
            var run = PackerRun.Invoke("synth", "--hidden", "512", "--layers", "4", "--vocab", "4096", "-o", output); // ~10 MiB
            run.AssertError("No space left", "free some space or write the model elsewhere");
            Assert.Empty(Directory.EnumerateFileSystemEntries(mount));
        }
        finally
        {
            TryRun("umount", mount);
        }
    }

    static bool TryRun(string program, params string[] args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
