using Edge.Tests.Helpers;

namespace Edge.Tests.Cli;

public class FpgaCommandTests
{
    [Fact]
    public async Task InfoOnTheEmulatorReportsTheUp5kBuild()
    {
        var (code, output, _) = await CliRun.InvokeAsync("fpga", "info", "--device", "emu");
        Assert.Equal(0, code);
        Assert.Contains("TMV1", output, StringComparison.Ordinal);
        Assert.Contains("131,072 bytes", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SelfTestPassesOnTheEmulatorEvenWithFaults()
    {
        var (code, output, _) = await CliRun.InvokeAsync("fpga", "selftest", "--device", "emu:faults=0.02,seed=5", "--rows", "96", "--columns", "300", "--runs", "20");
        Assert.Equal(0, code);
        Assert.Contains("0 mismatches", output, StringComparison.Ordinal);
        Assert.EndsWith("PASS", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingDeviceIsAOneLineError()
    {
        var (code, _, error) = await CliRun.InvokeAsync("fpga", "info", "--device", "spi:9.9@12MHz");
        Assert.Equal(1, code);
        Assert.StartsWith("edge: error: /dev/spidev9.9 does not exist", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EstimateCountsTheProtocolsBytes()
    {
        var (code, output, _) = await CliRun.InvokeAsync("fpga", "estimate", "--hidden", "64", "--layers", "2", "--intermediate", "256", "--sclk", "12");
        Assert.Equal(0, code);
        Assert.Contains("12.0 |", output, StringComparison.Ordinal);
        // Without --device: the limits the gateware in fpga/ reports, at the clock its bitstream closes timing at.
        Assert.Contains("UP5K gateware in fpga/: 32 lanes at 24.0 MHz", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EstimateTakesTheShapeFromTheModelAndTheLimitsFromTheDevice()
    {
        using var temp = new TempDirectory();
        string model = TestModels.WriteSynthetic(temp.File("tiny.edge"), seed: 7, TestModels.TinyShape with { Layers = 3 });
        var (code, output, error) = await CliRun.InvokeAsync("fpga", "estimate", "--device", "emu", "-m", model, "--sclk", "12");
        Assert.True(code == 0, error);
        Assert.Contains("H=64 L=3 I=96 (tiny.edge)", output, StringComparison.Ordinal);
        Assert.Contains("emu (INFO): 32 lanes at 48.0 MHz", output, StringComparison.Ordinal);
        // An explicit shape still wins over the model's.
        (code, output, _) = await CliRun.InvokeAsync("fpga", "estimate", "-m", model, "--layers", "5", "--sclk", "12");
        Assert.Equal(0, code);
        Assert.Contains("H=64 L=5 I=96", output, StringComparison.Ordinal);
    }
}
