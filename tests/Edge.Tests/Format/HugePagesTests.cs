using Edge.Format.Container;

namespace Edge.Tests.Format;

public sealed class HugePagesTests
{
    [Theory]
    [InlineData("2097152\n", 2 << 20)]
    [InlineData("33554432\n", 32 << 20)] // arm64 with 16 KiB pages (Pi 5)
    [InlineData("536870912", 512 << 20)] // arm64 with 64 KiB pages
    [InlineData(null, 2 << 20)] // no such setting
    [InlineData("", 2 << 20)]
    [InlineData("4096", 2 << 20)] // not a huge page
    [InlineData("3145728", 2 << 20)] // not a power of two
    [InlineData("-2097152", 2 << 20)]
    [InlineData("2 MiB", 2 << 20)]
    public void TheHugePageSizeIsTheKernelsWhenItIsPlausibleElse2MiB(string? setting, int expected) =>
        Assert.Equal((uint)expected, HugePages.ParseSize(setting));

    [Fact]
    public void TheHugePageSizeIsOneThisMachineCanUse()
    {
        Assert.True(uint.IsPow2(HugePages.Size) && HugePages.Size >= 2 << 20);
        const string setting = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size";
        if (File.Exists(setting))
            Assert.Equal(File.ReadAllText(setting).Trim(), HugePages.Size.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public unsafe void MemoryOfAHugePageOrMoreStartsOnOneAndIsAdvised()
    {
        long length = HugePages.Size + 12345;
        byte* memory = HugePages.Allocate(length, out bool advised);
        try
        {
            Assert.Equal(0, (nint)memory % HugePages.Size);
            new Span<byte>(memory, (int)length).Fill(7); // all of it is usable
            Assert.Equal(7, memory[length - 1]);
            switch (HugePages.SystemMode)
            {
                case "always" or "madvise":
                    Assert.True(advised);
                    Assert.Equal("1", ModelFileTests.SmapsField(memory, "THPeligible"));
                    break;
                case null:
                    Assert.False(advised);
                    break;
            }
        }
        finally
        {
            HugePages.Free(memory);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100_000)]
    public unsafe void SmallerMemoryIsPageAlignedAndNotAdvised(int length)
    {
        byte* memory = HugePages.Allocate(length, out bool advised);
        Assert.Equal(0, (nint)memory % 4096);
        Assert.False(advised);
        HugePages.Free(memory);
    }

    [Fact]
    public unsafe void ANegativeLengthIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => { HugePages.Allocate(-1, out _); });
}
