using System.Buffers.Binary;
using Edge.Format.Container;
using static Edge.Tests.Format.ModelFileBytes;

namespace Edge.Tests.Format;

public sealed class ModelFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("edge-format-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static ModelMetadata Metadata => new()
    {
        Name = "format-test",
        Config = new HgrnBitConfig { VocabSize = 8, HiddenSize = 4, NumHiddenLayers = 1, IntermediateSize = 8 },
        Packer = "test",
        Sources = [new SourceFile("model.safetensors", 123, new string('a', 64))],
    };

    string WriteValid()
    {
        string path = Path.Combine(_dir, "valid.edge");
        using var w = ModelFileWriter.Create(path, Metadata);
        w.AddTensor("blob", TensorType.Bytes, [5], [1, 2, 3, 4, 5]);
        w.AddTensor("vec", TensorType.F32, [4], new byte[16]);
        w.AddTensor("ternary", TensorType.Ternary2, [3, 10], Enumerable.Repeat((byte)0x55, 3 * 64).ToArray(), scale: 0.25f);
        w.Commit();
        return path;
    }

    [Fact]
    public void RoundTripsMetadataAndTensors()
    {
        using var f = ModelFile.Open(WriteValid());
        Assert.Equal(Metadata.Config, f.Metadata.Config);
        Assert.Equal("format-test", f.Metadata.Name);
        Assert.Equal(Metadata.Sources, f.Metadata.Sources);
        Assert.Equal(3, f.Tensors.Count);
        var t = f.GetInfo("ternary");
        Assert.Equal(TensorType.Ternary2, t.Type);
        Assert.Equal([3L, 10L], t.Shape);
        Assert.Equal(0.25f, t.Scale);
        Assert.All(f.Tensors, x => Assert.Equal(0, x.Offset % ModelFileLayout.Alignment));
        Assert.Equal([1, 2, 3, 4, 5], f.GetBytes(f.GetInfo("blob")).ToArray());
        Assert.Empty(f.VerifyChecksums());
    }

    [Fact]
    public unsafe void ReadingIntoMemoryGivesTheSameFileAsMapping()
    {
        string path = WriteValid();
        using var mapped = ModelFile.Open(path);
        using var read = ModelFile.Open(path, inMemory: true);
        Assert.True(mapped.IsMapped);
        Assert.False(read.IsMapped);
        Assert.Equal(mapped.Metadata.Config, read.Metadata.Config);
        foreach (var t in mapped.Tensors)
        {
            Assert.Equal(mapped.GetBytes(t).ToArray(), read.GetBytes(read.GetInfo(t.Name)).ToArray());
            Assert.Equal(0, ((nint)read.GetPointer(t) - t.Offset) % 4096); // the copy starts on a page
        }
        Assert.Empty(read.VerifyChecksums());
    }

    [Fact]
    public unsafe void ACopyOfAHugePageOrMoreAsksForHugePages()
    {
        string path = Path.Combine(_dir, "a-huge-page-and-a-bit.bin");
        var bytes = new byte[HugePages.Size + (1 << 20) + 3];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        using var copy = new InMemoryFile(path);
        Assert.Equal(bytes, new ReadOnlySpan<byte>(copy.Pointer, bytes.Length).ToArray());
        Assert.Equal(0, (nint)copy.Pointer % HugePages.Size);
        switch (HugePages.SystemMode)
        {
            case "always" or "madvise":
                Assert.True(copy.HugePagesAdvised);
                Assert.Equal("1", SmapsField(copy.Pointer, "THPeligible"));
                break;
            case null:
                Assert.False(copy.HugePagesAdvised); // not Linux, or a kernel without huge pages
                break;
        }
    }

    [Fact]
    public unsafe void AMappingStartsOnAHugePageAsksForHugePagesAndIsGoneAfterDispose()
    {
        string path = Path.Combine(_dir, "three-mib-and-a-bit.bin");
        var bytes = new byte[(3 << 20) + 4097];
        new Random(4).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        byte* pointer;
        using (var mapping = new ReadOnlyMapping(path))
        {
            pointer = mapping.Pointer;
            Assert.Equal(bytes, new ReadOnlySpan<byte>(pointer, bytes.Length).ToArray());
            if (!OperatingSystem.IsLinux())
                return;
            Assert.Equal(0, (nint)pointer % HugePages.Size);
            if (HugePages.SystemMode is "always" or "madvise")
            {
                Assert.True(mapping.HugePagesAdvised);
                Assert.Contains(" hg", " " + SmapsField(pointer, "VmFlags")); // MADV_HUGEPAGE on the mapping itself
            }
            int page = Environment.SystemPageSize;
            Assert.Equal((bytes.Length + page - 1) / page * (page / 1024) + " kB", SmapsField(pointer, "Size")); // the file's pages, no more
        }
        Assert.Null(SmapsField(pointer, "Size"));
    }

    /// <summary>A field of the /proc/self/smaps entry of the mapping that holds <paramref name="address"/>.</summary>
    internal static unsafe string? SmapsField(byte* address, string field)
    {
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            if (dash > 0 && space > dash && ulong.TryParse(line[..dash], System.Globalization.NumberStyles.HexNumber, null, out ulong start)
                && ulong.TryParse(line[(dash + 1)..space], System.Globalization.NumberStyles.HexNumber, null, out ulong end))
                inside = (ulong)address >= start && (ulong)address < end;
            else if (inside && line.StartsWith(field + ":", StringComparison.Ordinal))
                return line[(field.Length + 1)..].Trim();
        }
        return null;
    }

    [Fact]
    public void UncommittedWriterLeavesNoFile()
    {
        string path = Path.Combine(_dir, "never.edge");
        using (var w = ModelFileWriter.Create(path, Metadata))
            w.AddTensor("vec", TensorType.F32, [4], new byte[16]);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void WriterRejectsDuplicateNamesAndInvalidShapes()
    {
        using var w = ModelFileWriter.Create(Path.Combine(_dir, "x.edge"), Metadata);
        w.AddTensor("vec", TensorType.F32, [4], new byte[16]);
        Assert.Throws<ArgumentException>(() => w.BeginTensor("vec", TensorType.F32, [4]));
        Assert.Throws<ArgumentException>(() => w.BeginTensor("bad", TensorType.Ternary2, [4]));
    }

    [Fact]
    public void AnIncompleteTensorPoisonsTheWriter()
    {
        string path = Path.Combine(_dir, "short.edge");
        using (var w = ModelFileWriter.Create(path, Metadata))
        {
            Assert.Throws<InvalidOperationException>(() => w.AddTensor("vec", TensorType.F32, [4], new byte[12]));
            Assert.Throws<InvalidOperationException>(() => w.AddTensor("other", TensorType.F32, [1], new byte[4]));
            Assert.Throws<InvalidOperationException>(w.Commit);
        }
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void DetectsCorruptTensorData()
    {
        string path = WriteValid();
        long offset;
        using (var f = ModelFile.Open(path))
            offset = f.GetInfo("blob").Offset;
        Mutate(path, bytes => bytes[offset] ^= 0xFF);
        using var g = ModelFile.Open(path);
        Assert.Equal(["blob"], g.VerifyChecksums());
    }

    public static TheoryData<string, string> Corruptions => new()
    {
        { "magic", "magic bytes" },
        { "header-bit", "header checksum" },
        { "table-bit", "checksum does not match" },
        { "truncated", "truncated" },
        { "empty", "shorter than" },
        { "appended", "does not end the file" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void RejectsCorruptFilesWithAClearMessage(string corruption, string expected)
    {
        string path = WriteValid();
        switch (corruption)
        {
            case "magic": Mutate(path, b => b[0] = (byte)'X'); break;
            case "header-bit": Mutate(path, b => b[20] ^= 1); break;
            case "table-bit": Mutate(path, b => b[^3] ^= 1); break;
            case "truncated": File.WriteAllBytes(path, File.ReadAllBytes(path)[..^10]); break;
            case "empty": File.WriteAllBytes(path, []); break;
            case "appended": File.AppendAllText(path, "junk"); break;
        }
        foreach (bool inMemory in new[] { false, true })
        {
            var e = Assert.Throws<InvalidDataException>(() => ModelFile.Open(path, inMemory));
            Assert.Contains(expected, e.Message);
        }
    }

    [Fact]
    public void RejectsAFutureFormatVersion()
    {
        string path = WriteValid();
        Mutate(path, b =>
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), 99);
            ResealHeader(b);
        });
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.Open(path));
        Assert.Contains("version 99", e.Message);
    }

    /// <summary>A well-checksummed file with an inconsistent table must still be refused: CRCs are not validation.</summary>
    public static TheoryData<string, string> AdversarialTables => new()
    {
        { "offset-out-of-file", "outside the data region" },
        { "misaligned", "not 64-byte aligned" },
        { "length-mismatch", "its type and shape need" },
        { "unknown-type", "unknown type" },
        { "overlap", "overlap" },
        { "zero-dim", "cannot have" },
        { "bad-scale", "has scale" },
    };

    [Theory]
    [MemberData(nameof(AdversarialTables))]
    public void RejectsInconsistentTablesEvenWithValidChecksums(string attack, string expected)
    {
        string path = WriteValid();
        Mutate(path, b =>
        {
            var (tableStart, _) = TableRange(b);
            // Entries in order: blob, vec, ternary. Field positions follow the encoding in ModelFileWriter.
            int blob = tableStart, vec = blob + EntrySize("blob", 1), ternary = vec + EntrySize("vec", 1);
            switch (attack)
            {
                case "offset-out-of-file": WriteI64(b, OffsetField(vec, 3, 1), 1L << 40); break;
                case "misaligned": WriteI64(b, OffsetField(vec, 3, 1), ReadI64(b, OffsetField(vec, 3, 1)) + 4); break;
                case "length-mismatch": WriteI64(b, OffsetField(vec, 3, 1) + 8, 20); break;
                case "unknown-type": b[vec + 2 + 3] = 77; break;
                case "overlap": WriteI64(b, OffsetField(vec, 3, 1), ReadI64(b, OffsetField(blob, 4, 1))); break;
                case "zero-dim": WriteI64(b, vec + 2 + 3 + 2, 0); break;
                case "bad-scale": BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(OffsetField(ternary, 7, 2) + 16), float.NaN); break;
            }
            ResealBlocks(b);
        });
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.Open(path));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void RandomGarbageNeverCrashesTheReader()
    {
        var rng = new Random(7);
        string valid = WriteValid();
        byte[] original = File.ReadAllBytes(valid);
        string path = Path.Combine(_dir, "fuzz.edge");
        for (int i = 0; i < 300; i++)
        {
            byte[] b = (byte[])original.Clone();
            int flips = rng.Next(1, 8);
            for (int j = 0; j < flips; j++)
                b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
            if (i % 3 == 0)
                ResealHeader(b);
            if (i % 5 == 0)
                ResealBlocks(b);
            File.WriteAllBytes(path, b);
            try
            {
                using var f = ModelFile.Open(path);
            }
            catch (InvalidDataException)
            {
            }
        }
    }

    static int EntrySize(string name, int rank) => 2 + name.Length + 2 + 8 * rank + 24;

    static int OffsetField(int entry, int nameLength, int rank) => entry + 2 + nameLength + 2 + 8 * rank;

    static long ReadI64(byte[] b, int at) => BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(at));

    static void WriteI64(byte[] b, int at, long v) => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at), v);
}
