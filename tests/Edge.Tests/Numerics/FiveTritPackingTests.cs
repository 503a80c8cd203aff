using Edge.Format.Container;
using Edge.Format.Numerics;

namespace Edge.Tests.Numerics;

public class FiveTritPackingTests
{
    [Fact]
    public void EveryFiveCodeCombinationRoundTripsThroughOneByte()
    {
        var seen = new HashSet<byte>();
        for (int v = 0; v < 243; v++)
        {
            int[] c = [v % 3, v / 3 % 3, v / 9 % 3, v / 27 % 3, v / 81];
            byte b = FiveTritPacking.Encode(c[0], c[1], c[2], c[3], c[4]);
            Assert.True(seen.Add(b), $"codes {string.Join(",", c)} share byte {b} with another combination");
            Assert.True((b & 127) < 123, $"byte {b}: the low seven bits of a written byte stay below 123");
            for (int i = 0; i < 5; i++)
                Assert.Equal(c[i], FiveTritPacking.Code(b, i));
        }
    }

    [Fact]
    public void EveryByteDecodesToCodesAndTheTablesAgreeWithTheRule()
    {
        var four = FiveTritPacking.FourCodeTable();
        var fifth = FiveTritPacking.FifthCodeTable();
        for (int b = 0; b < 256; b++)
        {
            for (int i = 0; i < 5; i++)
                Assert.InRange(FiveTritPacking.Code((byte)b, i), 0, 2);
            for (int i = 0; i < 4; i++)
                Assert.Equal(FiveTritPacking.Code((byte)b, i), (four[b] >> (2 * i)) & 3);
            // The fifth code's permutation sees only the low seven bits.
            Assert.Equal(FiveTritPacking.Code((byte)b, 4), fifth[b & 127]);
        }
    }

    [Fact]
    public void RowsRoundTripAtEveryLengthAndTakeTheDocumentedBytes()
    {
        var rng = new Random(20261129);
        int[] lengths = [.. Enumerable.Range(1, 700), 959, 960, 961, 1024, 2560, 2816, 6912];
        foreach (int k in lengths)
        {
            var t = new sbyte[k];
            for (int i = 0; i < k; i++)
                t[i] = (sbyte)rng.Next(-1, 2);
            int rowBytes = FiveTritPacking.RowBytes(k);
            Assert.Equal(k / 320 * 64 + (k % 320 + 63) / 64 * 16, rowBytes);
            var packed = new byte[rowBytes];
            FiveTritPacking.PackRow(t, packed);
            var back = new sbyte[k];
            FiveTritPacking.UnpackRow(packed, back);
            Assert.Equal(t, back);
            for (int i = 0; i < k; i += 7)
                Assert.Equal(t[i], FiveTritPacking.GetWeight(packed, k, i));
            // The tail is padded with zero weights up to a multiple of 64.
            for (int i = k; i < (k + 63) / 64 * 64; i++)
                Assert.Equal(0, FiveTritPacking.GetWeight(packed, k, i));
        }
        Assert.Equal(208, FiveTritPacking.RowBytes(1024));
        Assert.Equal(512, FiveTritPacking.RowBytes(2560));
    }

    [Fact]
    public void LayoutPutsWeightJPlus64InTheNextTritAndTheTailTwoBitsPerWeight()
    {
        var t = new sbyte[384];
        t[3] = 1;      // block byte 3, c0 = 2
        t[64 + 3] = -1; // c1 = 0
        t[256 + 3] = 1; // c4 = 2
        t[320 + 17] = 1; // tail byte 1, bits 2-3 (weight j + 16)
        var packed = new byte[FiveTritPacking.RowBytes(384)];
        FiveTritPacking.PackRow(t, packed);
        Assert.Equal(FiveTritPacking.Encode(2, 0, 1, 1, 2), packed[3]);
        Assert.Equal(FiveTritPacking.Encode(1, 1, 1, 1, 1), packed[0]);
        Assert.Equal(0b01_01_10_01, packed[64 + 1]);
    }

    [Fact]
    public void BadRowsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FiveTritPacking.PackRow([2], new byte[16]));
        Assert.Throws<ArgumentException>(() => FiveTritPacking.PackRow(new sbyte[320], new byte[63]));
        Assert.Throws<ArgumentException>(() => FiveTritPacking.UnpackRow(new byte[63], new sbyte[320]));
    }

    [Fact]
    public void TheFileFormatKnowsTheLayoutsLength()
    {
        Assert.True(TensorTypes.IsKnown(TensorType.TernaryFiveTrit));
        Assert.Equal(3L * 208, TensorTypes.ExpectedLength(TensorType.TernaryFiveTrit, [3, 1024]));
        Assert.Null(TensorTypes.ExpectedLength(TensorType.TernaryFiveTrit, [1024]));
    }
}
