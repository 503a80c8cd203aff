using System.Buffers.Binary;
using System.IO.Hashing;

namespace Edge.Tests.Format;

/// <summary>The byte edits of the tests that damage a model file on purpose, and the CRCs such a test must redo.</summary>
static class ModelFileBytes
{
    /// <summary>Where the tensor table lies, as the header says.</summary>
    public static (int Start, int Length) TableRange(byte[] b) =>
        ((int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(32)), (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(40)));

    /// <summary>Recomputes the CRC of the metadata and tensor table, then the header's; nothing where the header's ranges no longer fit the file.</summary>
    public static void ResealBlocks(byte[] b)
    {
        int metaLength = (int)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(24)), (ulong)(b.Length - 64));
        var (start, length) = TableRange(b);
        if (start < 0 || length < 0 || (long)start + length > b.Length)
            return;
        var crc = new Crc32();
        crc.Append(b.AsSpan(64, metaLength));
        crc.Append(b.AsSpan(start, length));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(52), crc.GetCurrentHashAsUInt32());
        ResealHeader(b);
    }

    /// <summary>Recomputes the header's own CRC only (a test of the block CRC leaves that one wrong).</summary>
    public static void ResealHeader(byte[] b) =>
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(60), Crc32.HashToUInt32(b.AsSpan(0, 60)));

    public static void Mutate(string path, Action<byte[]> change)
    {
        byte[] b = File.ReadAllBytes(path);
        change(b);
        File.WriteAllBytes(path, b);
    }
}
