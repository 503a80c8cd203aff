using System.Buffers.Binary;
using Edge.Format.Container;
using Edge.Packer;
using Edge.Runtime;
using Edge.Runtime.Generation;
using static Edge.Tests.Format.ModelFileBytes;

namespace Edge.Tests.Format;

/// <summary>
/// Model files found by mutation probes and fuzzing (docs/RELIABILITY.md) that once crashed a reader or printed
/// more than one line; each must now be refused with one <see cref="InvalidDataException"/> or <see cref="IOException"/> line.
/// </summary>
public sealed class MutationProbeRegressionTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("edge-probe-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static HgrnBitConfig Config => new() { VocabSize = 8, HiddenSize = 4, NumHiddenLayers = 1, IntermediateSize = 8 };

    string WriteValid(HgrnBitConfig? config = null)
    {
        string path = Path.Combine(_dir, "probe.edge");
        using var w = ModelFileWriter.Create(path, new ModelMetadata { Name = "probe1", Config = config ?? Config, Packer = "test" });
        w.AddTensor("blob", TensorType.Bytes, [5], [1, 2, 3, 4, 5]);
        w.AddTensor("ternary", TensorType.Ternary2, [3, 10], Enumerable.Repeat((byte)0x55, 3 * 64).ToArray(), scale: 0.25f);
        w.Commit();
        return path;
    }

    static InvalidDataException AssertRefused(string path)
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.Open(path));
        Assert.DoesNotContain('\n', e.Message);
        Assert.InRange(e.Message.Length, 20, 400);
        return e;
    }

    [Theory]
    [InlineData(TensorType.Ternary2, 2147483393L)]
    [InlineData(TensorType.Ternary2, int.MaxValue)]
    [InlineData(TensorType.TernaryFiveTrit, int.MaxValue)]
    public void ATernaryRowTooLongToPadIsAnInvalidShapeNotAnOverflow(TensorType type, long k)
    {
        Assert.Null(TensorTypes.ExpectedLength(type, [1, k]));
        string path = WriteValid();
        Mutate(path, b =>
        {
            var (table, _) = TableRange(b);
            int ternary = table + 2 + "blob".Length + 2 + 8 + 24;
            b[ternary + 2 + "ternary".Length] = (byte)type;
            BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(ternary + 2 + "ternary".Length + 2 + 8), k);
            ResealBlocks(b);
        });
        Assert.Contains("cannot have", AssertRefused(path).Message);
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("intermediate_size")]
    public void AConfigurationNoModelCanHaveIsRefusedAtOpen(string field)
    {
        // Any reader (edge inspect too) computes sizes from these; 2147483393 overflowed the workspace estimate.
        var config = field == "hidden_size" ? Config with { HiddenSize = 2147483393 & int.MaxValue } : Config with { IntermediateSize = int.MaxValue };
        Assert.Contains(field, AssertRefused(WriteValid(config)).Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(63)]
    public void ParsingBytesShorterThanTheHeaderIsARefusal(int length)
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.Parse(new byte[length], length));
        Assert.Contains("shorter than the 64-byte header", e.Message);
    }

    [Fact]
    public void ATensorNameWithALineBreakIsRefusedWithoutPrintingIt()
    {
        string path = WriteValid();
        Mutate(path, b =>
        {
            var (table, _) = TableRange(b);
            b[table + 2 + 1] = (byte)'\n'; // "blob" becomes "b\nob"
            ResealBlocks(b);
        });
        Assert.Contains("control characters", AssertRefused(path).Message);
    }

    [Fact]
    public void ATableWhoseOffsetPlusLengthWrapsAroundIsRefused()
    {
        string path = WriteValid();
        long fileLength = new FileInfo(path).Length;
        Mutate(path, b =>
        {
            // offset + length = 2^64 + fileLength: the old check added them and saw the file's length.
            ulong length = (ulong)fileLength + 4096;
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(32), unchecked(0UL - 4096));
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(40), length);
            ResealHeader(b);
        });
        Assert.Contains("does not end the file", AssertRefused(path).Message);
    }

    [Fact]
    public void AOneBitJsonErrorInTheMetadataIsOneShortLine()
    {
        string path = WriteValid();
        Mutate(path, b =>
        {
            int colon = b.AsSpan(64).IndexOf("\"config\": {"u8) + 64 + "\"config\"".Length;
            b[colon] ^= 0x01; // ':' becomes ';'
            ResealBlocks(b);
        });
        var e = AssertRefused(path);
        Assert.Contains("not valid JSON (line", e.Message);
        Assert.DoesNotContain("vocab_size", e.Message);
    }

    [Fact]
    public void AnEscapedLoneSurrogateInTheMetadataIsRefused()
    {
        string path = WriteValid();
        Mutate(path, b =>
        {
            int name = b.AsSpan(64).IndexOf("\"probe1\""u8) + 64;
            "\"\\ud800\""u8.CopyTo(b.AsSpan(name)); // as long as "probe1" in quotes
            ResealBlocks(b);
        });
        Assert.Contains("not valid Unicode", AssertRefused(path).Message);
    }

    /// <summary>A tiny runnable model, packed the way edge-pack synth writes one.</summary>
    string WriteRunnable()
    {
        string path = Path.Combine(_dir, "runnable.edge");
        new SyntheticModel(TextWriter.Null).Write(new SyntheticShape("probe", 64, 1, 600, 256), 5, path, null, false);
        return path;
    }

    [Theory]
    [InlineData("truncate")]
    [InlineData("overwrite")]
    public void AModelFileChangedWhileMappedEndsTheRunWithAnErrorNotACrash(string change)
    {
        string path = WriteRunnable();
        using var model = EdgeModel.Load(path, new LoadOptions { Threads = 1 });
        var state = model.Model.CreateState();
        var logits = new float[model.Config.VocabSize];
        model.Model.Forward([1, 7, 9], state, logits);
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            if (change == "truncate")
                stream.SetLength(4096); // the mapped pages past this would SIGBUS
            else
            {
                stream.Write(new byte[4096]);
                File.SetLastWriteTimeUtc(stream.SafeFileHandle, DateTime.UtcNow.AddSeconds(5)); // coarse clocks: make the change visible
            }
        }
        var e = Assert.Throws<IOException>(() => model.Model.Forward([11], state, logits));
        Assert.Contains("truncated or overwritten while in use", e.Message);
    }

    [Fact]
    public void AModelReplacedByRenameKeepsRunning()
    {
        string path = WriteRunnable();
        using var model = EdgeModel.Load(path, new LoadOptions { Threads = 1 });
        string other = Path.Combine(_dir, "other.edge");
        File.Copy(path, other);
        File.Move(other, path, overwrite: true);
        var logits = new float[model.Config.VocabSize];
        model.Model.Forward([1, 7], model.Model.CreateState(), logits);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void ALineWithoutEndIsRefusedOnceItPassesTheBound()
    {
        string path = Path.Combine(_dir, "zeros.txt");
        File.WriteAllBytes(path, new byte[300_000]);
        var e = Assert.Throws<InvalidDataException>(() => Perplexity.ReadLines(path, maxLineChars: 100_000).ToList());
        Assert.Contains("Line 1", e.Message);
        if (OperatingSystem.IsLinux())
            Assert.Throws<InvalidDataException>(() => Perplexity.ReadLines("/dev/zero").Count());
    }

    [Fact]
    public void LinesAreSplitOnLfAndCrLf()
    {
        string path = Path.Combine(_dir, "text.txt");
        File.WriteAllText(path, "one\r\ntwo\n\nthree");
        Assert.Equal(["one", "two", "", "three"], Perplexity.ReadLines(path, maxLineChars: 8));
    }
}
