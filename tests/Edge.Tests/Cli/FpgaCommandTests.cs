namespace Edge.Tests.Cli;

public class FpgaCommandTests
{
    static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Edge.Cli.Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task InfoOnTheEmulatorReportsTheUp5kBuild()
    {
        var (code, output, _) = await Run("fpga", "info", "--device", "emu");
        Assert.Equal(0, code);
        Assert.Contains("TMV1", output, StringComparison.Ordinal);
        Assert.Contains("131,072 bytes", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SelfTestPassesOnTheEmulatorEvenWithFaults()
    {
        var (code, output, _) = await Run("fpga", "selftest", "--device", "emu:faults=0.02,seed=5", "--rows", "96", "--columns", "300", "--runs", "20");
        Assert.Equal(0, code);
        Assert.Contains("0 mismatches", output, StringComparison.Ordinal);
        Assert.EndsWith("PASS", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingDeviceIsAOneLineError()
    {
        var (code, _, error) = await Run("fpga", "info", "--device", "spi:9.9@12MHz");
        Assert.Equal(1, code);
        Assert.StartsWith("edge: error: /dev/spidev9.9 does not exist", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EstimateCountsTheProtocolsBytes()
    {
        var (code, output, _) = await Run("fpga", "estimate", "--hidden", "64", "--layers", "2", "--intermediate", "256", "--sclk", "12");
        Assert.Equal(0, code);
        Assert.Contains("12.0 |", output, StringComparison.Ordinal);
    }
}
