using Edge.Format.Numerics;

namespace Edge.Tests.Numerics;

public class TernaryPackingTests
{
    [Fact]
    public void RoundTripsEveryLength()
    {
        var rng = new Random(20261128);
        for (int k = 1; k <= 1100; k++)
        {
            var t = new sbyte[k];
            for (int i = 0; i < k; i++)
                t[i] = (sbyte)rng.Next(-1, 2);
            var packed = new byte[TernaryPacking.RowBytes(k)];
            TernaryPacking.PackRow(t, packed);
            var back = new sbyte[k];
            TernaryPacking.UnpackRow(packed, back);
            Assert.Equal(t, back);
            // Padding holds zero weights (code 1).
            for (int p = k; p < TernaryPacking.PaddedLength(k); p++)
                Assert.Equal(0, TernaryPacking.GetWeight(packed, p));
        }
    }

    [Fact]
    public void LayoutPutsWeightJPlus64InTheNextBitPair()
    {
        var t = new sbyte[256];
        t[0] = 1;     // byte 0, bits 0-1
        t[64] = -1;   // byte 0, bits 2-3
        t[130] = 1;   // byte 2, bits 4-5
        t[255] = -1;  // byte 63, bits 6-7
        var packed = new byte[64];
        TernaryPacking.PackRow(t, packed);
        Assert.Equal(0b01_01_00_10, packed[0]);
        Assert.Equal(0b01_10_01_01, packed[2]);
        Assert.Equal(0b00_01_01_01, packed[63]);
        Assert.Equal(0b01_01_01_01, packed[1]);
    }

    [Fact]
    public void RejectsValuesOutsideTernary()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TernaryPacking.PackRow([2], new byte[64]));
    }
}
