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

    [Fact]
    public async Task EstimateTakesTheShapeFromTheModelAndTheLimitsFromTheDevice()
    {
        var dir = Directory.CreateTempSubdirectory("edge-fpga-test-");
        try
        {
            string model = Path.Combine(dir.FullName, "tiny.edge");
            new Edge.Packer.SyntheticModel(TextWriter.Null).Write(new Edge.Packer.SyntheticShape("tiny", Hidden: 64, Layers: 3, Vocab: 600, Intermediate: 96),
                seed: 7, model, name: null, force: false, TestContext.Current.CancellationToken);
            var (code, output, error) = await Run("fpga", "estimate", "--device", "emu", "-m", model, "--sclk", "12");
            Assert.True(code == 0, error);
            Assert.Contains("H=64 L=3 I=96 (tiny.edge)", output, StringComparison.Ordinal);
            Assert.Contains("emu (INFO): 32 lanes at 48.0 MHz", output, StringComparison.Ordinal);
            // An explicit shape still wins over the model's.
            (code, output, _) = await Run("fpga", "estimate", "-m", model, "--layers", "5", "--sclk", "12");
            Assert.Equal(0, code);
            Assert.Contains("H=64 L=5 I=96", output, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
