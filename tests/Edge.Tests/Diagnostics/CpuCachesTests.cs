using Edge.Runtime.Diagnostics;

namespace Edge.Tests.Diagnostics;

public sealed class CpuCachesTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("edge-caches-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    void Cache(int index, int level, string type, string size)
    {
        string d = Directory.CreateDirectory(Path.Combine(_dir, $"index{index}")).FullName;
        File.WriteAllText(Path.Combine(d, "level"), $"{level}\n");
        File.WriteAllText(Path.Combine(d, "type"), $"{type}\n");
        File.WriteAllText(Path.Combine(d, "size"), $"{size}\n");
    }

    [Fact]
    public void TheLastLevelIsTheHighestDataOrUnifiedCache()
    {
        Cache(0, 1, "Data", "32K");
        Cache(1, 1, "Instruction", "32K");
        Cache(3, 3, "Unified", "32768K"); // listed before level 2 on purpose
        Cache(2, 2, "Unified", "1024K");
        Assert.Equal(32L << 20, CpuCaches.ReadLastLevel(_dir));
    }

    [Fact]
    public void ACpuWithoutL3ReportsItsL2()
    {
        Cache(0, 1, "Data", "32K");
        Cache(1, 1, "Instruction", "48K");
        Cache(2, 2, "Unified", "1M"); // Cortex-A72 (Pi 4): a shared 1 MiB L2 and no L3
        Assert.Equal(1L << 20, CpuCaches.ReadLastLevel(_dir));
    }

    [Fact]
    public void NoDirectoryOrAnUnreadableSizeIsUnknown()
    {
        Assert.Null(CpuCaches.ReadLastLevel(Path.Combine(_dir, "missing")));
        Cache(0, 2, "Unified", "lots");
        Assert.Null(CpuCaches.ReadLastLevel(_dir));
    }

    [Theory]
    [InlineData("32768K", 32L << 20)]
    [InlineData("300M", 300L << 20)]
    [InlineData("1G", 1L << 30)]
    [InlineData("512", 512L)]
    [InlineData(" 48K\n", 48L << 10)]
    public void SizesParse(string text, long bytes) => Assert.Equal(bytes, CpuCaches.ParseSize(text));

    [Theory]
    [InlineData("")]
    [InlineData("K")]
    [InlineData("0K")]
    [InlineData("-1K")]
    [InlineData("12 K")]
    [InlineData("12T")]
    public void NonSizesDoNot(string text) => Assert.Null(CpuCaches.ParseSize(text));

    [Fact]
    public void ThisMachineReportsALastLevelCacheOnLinux()
    {
        if (OperatingSystem.IsLinux() && Directory.Exists("/sys/devices/system/cpu/cpu0/cache/index0"))
            Assert.True(CpuCaches.LastLevelBytes > 0);
    }
}
