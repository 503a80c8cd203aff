using Edge.Offload.Emulator;
using Edge.Offload.Protocol;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Offload.Tests;

/// <summary>
/// The offloaded forward pass must give bit-identical logits to the CPU, token for token, for any layer selection
/// and whatever faults the link suffers.
/// </summary>
public sealed class OffloadForwardTests : IDisposable
{
    static readonly int[] Prompt = [1, 17, 250, 3, 99, 42, 7];
    const int Generate = 6;

    readonly TinyModel _tiny = new();

    public void Dispose() => _tiny.Dispose();

    /// <summary>Greedy decoding with batched prefill (batch 4); returns the bit patterns of every step's logits.</summary>
    static List<int[]> Run(HgrnBitModel model)
    {
        var state = model.CreateState();
        var logits = new float[TinyModel.Vocab];
        var steps = new List<int[]>();
        model.Forward(Prompt, state, logits);
        for (int t = 0; ; t++)
        {
            steps.Add(logits.Select(BitConverter.SingleToInt32Bits).ToArray());
            if (t == Generate)
                return steps;
            int next = Array.IndexOf(logits, logits.Max());
            model.Forward([next], state, logits);
        }
    }

    HgrnBitModel NewModel() => new(_tiny.Weights, new TernaryExecutor(new ScalarTernaryKernel()), maxBatch: 4);

    (List<int[]> Steps, SpiTernaryOffload Offload, List<string> Warnings) RunOffloaded(string layers, TernaryDeviceEmulator device)
    {
        var model = NewModel();
        var selector = LayerSelector.Parse(layers);
        var warnings = new List<string>();
        var offload = SpiTernaryOffload.Start(device, selector.Select(_tiny.Weights), selector.Fit, warnings.Add);
        model.Executor.Offload = offload;
        return (Run(model), offload, warnings);
    }

    static void AssertSameLogits(List<int[]> expected, List<int[]> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int t = 0; t < expected.Count; t++)
            Assert.True(expected[t].AsSpan().SequenceEqual(actual[t]), $"Logits differ at step {t}.");
    }

    [Theory]
    [InlineData("fit", 16)]
    [InlineData("0-1", 12)]
    [InlineData("2", 6)]
    [InlineData("model.layers.*.attn.o_proj,lm_head", 4)]
    [InlineData("model.layers.1.mlp.*", 2)]
    public void OffloadedLogitsAreBitIdentical(string layers, int expectedLayers)
    {
        var cpu = Run(NewModel());
        var (steps, offload, warnings) = RunOffloaded(layers, new TernaryDeviceEmulator());
        AssertSameLogits(cpu, steps);
        Assert.Equal(expectedLayers, offload.OffloadedLayers.Count());
        Assert.True(offload.Statistics.OffloadedCalls >= expectedLayers * Generate);
        Assert.Equal(0, offload.Statistics.Faults);
        Assert.Empty(warnings);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("model.layers.1.mlp.*")]
    public void TheSimulatedGatewareGivesTheCpusLogits(string layers)
    {
        var cpu = Run(NewModel());
        var model = NewModel();
        var selector = LayerSelector.Parse(layers);
        var warnings = new List<string>();
        using var device = new Simulation.RtlSimDevice(RtlLibrary.Require());
        var offload = SpiTernaryOffload.Start(device, selector.Select(_tiny.Weights), selector.Fit, warnings.Add);
        model.Executor.Offload = offload;
        AssertSameLogits(cpu, Run(model));
        Assert.NotEmpty(offload.OffloadedLayers);
        Assert.True(offload.Statistics.OffloadedCalls >= offload.OffloadedLayers.Count() * Generate);
        Assert.Equal(0, offload.Statistics.Faults);
        Assert.Empty(warnings);
    }

    [Fact]
    public void ADeviceWithOneActivationBufferGivesTheSameLogits()
    {
        var cpu = Run(NewModel());
        var (steps, offload, _) = RunOffloaded("fit", new TernaryDeviceEmulator(DeviceInfo.Up5k with { XBuffers = 1 }));
        AssertSameLogits(cpu, steps);
        Assert.Equal(0, offload.Statistics.Faults);
    }

    [Fact]
    public void FitTakesLayersInModelOrderUntilTheDeviceIsFull()
    {
        var (_, offload, _) = RunOffloaded("fit", new TernaryDeviceEmulator());
        var names = offload.OffloadedLayers.ToList();
        Assert.Equal(_tiny.Weights.BitLinearLayers.Select(l => l.Name).Take(16), names);
        Assert.True(offload.PlannedBytes <= DeviceInfo.Up5k.WeightBytes);
    }

    [Theory]
    [InlineData(InjectedFault.FlipMosiBit)]
    [InlineData(InjectedFault.FlipMisoBit)]
    [InlineData(InjectedFault.DropFrame)]
    [InlineData(InjectedFault.Stall)]
    [InlineData(InjectedFault.Reset)]
    public void EachFaultKindIsRecoveredWithoutChangingLogits(InjectedFault kind)
    {
        var cpu = Run(NewModel());
        var probe = new TernaryDeviceEmulator();
        RunOffloaded("fit", probe);
        var faults = new EmulatorFaults();
        // Spread over the upload (the first frames) and inference (the rest) of a fault-free run.
        foreach (double at in new[] { 0.01, 0.05, 0.2, 0.4, 0.6, 0.8 })
            faults.At((long)(at * probe.Frames), kind);
        var device = new TernaryDeviceEmulator(faults: faults);
        var (steps, offload, warnings) = RunOffloaded("fit", device);
        AssertSameLogits(cpu, steps);
        Assert.True(faults.TotalInjected >= 4, $"only {faults.TotalInjected} faults were injected");
        Assert.True(offload.Statistics.Faults > 0);
        Assert.True(offload.Statistics.Retries > 0);
        Assert.Empty(warnings);
        Assert.Equal(16, offload.OffloadedLayers.Count());
        if (kind is InjectedFault.Reset or InjectedFault.Stall)
            Assert.True(offload.Statistics.Reuploads > 0);
    }

    [Theory]
    [InlineData(0.01, 1)]
    [InlineData(0.03, 2)]
    [InlineData(0.05, 3)]
    public void RandomFaultsNeverChangeLogits(double rate, int seed)
    {
        var cpu = Run(NewModel());
        var faults = new EmulatorFaults(rate, seed);
        var (steps, offload, _) = RunOffloaded("fit", new TernaryDeviceEmulator(faults: faults));
        AssertSameLogits(cpu, steps);
        Assert.True(faults.TotalInjected > 0);
        Assert.True(offload.Statistics.Faults > 0);
    }

    [Fact]
    public void APersistentlyFailingLinkFallsBackToTheCpuWithAWarning()
    {
        var cpu = Run(NewModel());
        var faults = new EmulatorFaults();
        // After the upload, every frame for a long stretch is corrupted on the way to the device.
        var probe = new TernaryDeviceEmulator();
        SpiTernaryOffload.Start(probe, LayerSelector.Parse("0").Select(_tiny.Weights), fit: false, _ => { });
        for (long f = probe.Frames + 1; f < probe.Frames + 400; f++)
            faults.At(f, InjectedFault.FlipMosiBit);
        var (steps, offload, warnings) = RunOffloaded("0", new TernaryDeviceEmulator(faults: faults));
        AssertSameLogits(cpu, steps);
        Assert.True(offload.Statistics.FallbackLayers > 0 || !offload.Enabled);
        Assert.True(offload.Statistics.CpuFallbackCalls > 0);
        Assert.NotEmpty(warnings);
        Assert.Contains(warnings, w => w.Contains("CPU", StringComparison.Ordinal));
    }

    [Fact]
    public void AnExplicitSelectionThatDoesNotFitIsAClearError()
    {
        var selector = LayerSelector.Parse("0-2");
        var e = Assert.Throws<OffloadException>(() =>
            SpiTernaryOffload.Start(new TernaryDeviceEmulator(), selector.Select(_tiny.Weights), selector.Fit, _ => { }));
        Assert.Contains("--offload-layers fit", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public unsafe void ADecodeStepIsFourFramesPerProductAndRepeatedActivationsAreNotResent()
    {
        var (_, offload, _) = RunOffloaded("0", new TernaryDeviceEmulator());
        var model = NewModel();
        model.Executor.Offload = offload;
        long before = offload.Frames;
        model.Forward([5], model.CreateState(), new float[TinyModel.Vocab]);
        // Every BitLinear has its own norm, so each of block 0's 6 products sends its own x: LOAD_X, RUN, wait, READ_Y.
        Assert.Equal(6 * 4, offload.Frames - before);

        var w = _tiny.Weights.Layers[0].OProj.Matrix;
        var x = new sbyte[w.PaddedColumns];
        new Random(3).NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()));
        var y = new int[w.Rows];
        Assert.True(offload.TryMatMul(w, x, [x.Sum(v => v)], 1, y));
        before = offload.Frames;
        Assert.True(offload.TryMatMul(w, x, [x.Sum(v => v)], 1, y));
        Assert.Equal(3, offload.Frames - before);
    }
}
