using Edge.Offload.Emulator;
using Edge.Offload.Protocol;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Offload.Tests;

/// <summary>
/// Issue 23, item 4: a generation long enough for more than 10,000 SPI frames, with random faults of every kind on
/// the link (bit flips both ways, lost and truncated frames, busy stalls, resets). The logits must be the CPU's, bit
/// for bit, and each fault the emulator injects must show up exactly once in the transport's counters. A device that
/// stops answering must end in CPU fallback after a few frames, not in a hang. The longer run of the same check is
/// <c>edge generate --offload emu:faults=…,gap=…</c> (docs/RELIABILITY.md).
/// </summary>
public sealed class SpiFaultSoakTests : IDisposable
{
    const int MinimumFrames = 10_000;

    static readonly InjectedFault[] LinkFaults =
    [
        InjectedFault.FlipMosiBit, InjectedFault.FlipMisoBit, InjectedFault.DropFrame,
        InjectedFault.TruncateFrame, InjectedFault.Stall, InjectedFault.Reset,
    ];

    readonly TinyModel _tiny = new(seed: 5);

    public void Dispose() => _tiny.Dispose();

    HgrnBitModel NewModel() => new(_tiny.Weights, new TernaryExecutor(new ScalarTernaryKernel()), maxBatch: 4);

    /// <summary>Greedy decoding of <paramref name="tokens"/> tokens; returns every step's logits as bit patterns.</summary>
    static List<int[]> Generate(HgrnBitModel model, int tokens)
    {
        var state = model.CreateState();
        var logits = new float[TinyModel.Vocab];
        var steps = new List<int[]>(tokens);
        model.Forward([1, 17, 250, 3, 99, 42, 7], state, logits);
        for (int t = 0; t < tokens; t++)
        {
            steps.Add(logits.Select(BitConverter.SingleToInt32Bits).ToArray());
            model.Forward([Array.IndexOf(logits, logits.Max())], state, logits);
        }
        return steps;
    }

    (List<int[]> Steps, SpiTernaryOffload Offload, List<string> Warnings) GenerateOffloaded(TernaryDeviceEmulator device, int tokens)
    {
        var model = NewModel();
        var selector = LayerSelector.Parse("fit");
        var warnings = new List<string>();
        var offload = SpiTernaryOffload.Start(device, selector.Select(_tiny.Weights), selector.Fit, warnings.Add);
        model.Executor.Offload = offload;
        return (Generate(model, tokens), offload, warnings);
    }

    static void AssertSameLogits(List<int[]> expected, List<int[]> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int t = 0; t < expected.Count; t++)
            Assert.True(expected[t].AsSpan().SequenceEqual(actual[t]), $"Logits differ from the CPU's at token {t}.");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void TenThousandFramesOfRandomFaultsGiveTheCpusLogitsAndEveryFaultIsCounted(int seed)
    {
        const int tokens = 200;
        var cpu = Generate(NewModel(), tokens);
        var faults = new EmulatorFaults(rate: 0.02, seed, LinkFaults) { MinimumGap = 60 };
        var device = new TernaryDeviceEmulator(faults: faults);

        var (steps, offload, warnings) = GenerateOffloaded(device, tokens);

        TestContext.Current.TestOutputHelper?.WriteLine($"{tokens} tokens, {device.Frames:N0} SPI frames; the emulator injected {faults}; the host counted {offload.Statistics}");
        AssertSameLogits(cpu, steps);
        Assert.True(device.Frames >= MinimumFrames, $"only {device.Frames} frames");
        foreach (var kind in LinkFaults)
            Assert.True(faults.Injected.GetValueOrDefault(kind) >= 5, $"{kind}: {faults}");
        var s = offload.Statistics;
        Assert.True(s.Faults == faults.TotalInjected, $"the emulator injected {faults}; the host counted {s}");
        // A fault costs one retry or one re-upload attempt; none is frequent enough to exhaust a layer's attempts.
        Assert.Equal(0, s.FallbackLayers);
        Assert.Equal(0, s.CpuFallbackCalls);
        Assert.True(s.Retries > 0 && s.Reuploads > 0, s.ToString());
        Assert.Empty(warnings);
        Assert.True(offload.Enabled);
    }

    /// <summary>How the host may see each injected fault: a lost READ_Y reads as a CRC failure (MISO is 0xFF), a
    /// MISO flip outside a response hits the status marker, a flipped opcode may become an unknown command.</summary>
    [Theory]
    [InlineData(InjectedFault.FlipMosiBit, new[] { FaultKind.Crc, FaultKind.DeviceError, FaultKind.LostFrame })]
    [InlineData(InjectedFault.FlipMisoBit, new[] { FaultKind.Crc, FaultKind.NoAnswer })]
    [InlineData(InjectedFault.DropFrame, new[] { FaultKind.LostFrame, FaultKind.Crc })]
    [InlineData(InjectedFault.TruncateFrame, new[] { FaultKind.Crc, FaultKind.DeviceError, FaultKind.LostFrame })]
    [InlineData(InjectedFault.Stall, new[] { FaultKind.BusyTimeout })]
    [InlineData(InjectedFault.Reset, new[] { FaultKind.DeviceReset })]
    public void EachFaultIsCountedOnceAsAKindThatExplainsIt(InjectedFault injected, FaultKind[] seenAs)
    {
        var cpu = Generate(NewModel(), 40);
        var faults = new EmulatorFaults(rate: 0.02, seed: 3, injected) { MinimumGap = 60 };
        var (steps, offload, _) = GenerateOffloaded(new TernaryDeviceEmulator(faults: faults), 40);
        AssertSameLogits(cpu, steps);
        Assert.True(faults.TotalInjected >= 5, faults.ToString());
        Assert.True(offload.Statistics.Faults == faults.TotalInjected, $"the emulator injected {faults}; the host counted {offload.Statistics}");
        Assert.All(offload.Statistics.FaultsByKind.Keys, kind => Assert.Contains(kind, seenAs));
    }

    [Fact]
    public void ADeviceThatStopsAnsweringEndsInCpuFallbackAfterAFewFrames()
    {
        const int tokens = 30;
        var cpu = Generate(NewModel(), tokens);
        var probe = new TernaryDeviceEmulator();
        GenerateOffloaded(probe, tokens);
        long stopAt = probe.Frames / 2;
        var faults = new EmulatorFaults().At(stopAt, InjectedFault.StopAnswering);
        var device = new TernaryDeviceEmulator(faults: faults);

        var (steps, offload, warnings) = GenerateOffloaded(device, tokens);

        AssertSameLogits(cpu, steps);
        Assert.False(offload.Enabled);
        Assert.Contains(warnings, w => w.StartsWith("FPGA offload disabled:", StringComparison.Ordinal) && w.Contains("CPU", StringComparison.Ordinal));
        Assert.True(offload.Statistics.FaultsByKind.GetValueOrDefault(FaultKind.NoAnswer) > 0, offload.Statistics.ToString());
        Assert.True(offload.Statistics.CpuFallbackCalls > 0);
        // Once given up, the device is not touched again: the frames after the stop are the failing one and the
        // bounded recovery attempts, however many tokens follow.
        long after = device.Frames - stopAt;
        Assert.InRange(after, 1, 1 + 2L * new OffloadOptions().MaxAttempts);
    }

    [Fact]
    public void ADeviceThatStopsAnsweringDuringTheUploadIsGivenUpAtStart()
    {
        var cpu = Generate(NewModel(), 5);
        var faults = new EmulatorFaults().At(10, InjectedFault.StopAnswering);
        var device = new TernaryDeviceEmulator(faults: faults);
        var (steps, offload, warnings) = GenerateOffloaded(device, 5);
        AssertSameLogits(cpu, steps);
        Assert.False(offload.Enabled);
        Assert.Single(warnings);
        Assert.InRange(device.Frames, 10, 10 + 2L * new OffloadOptions().MaxAttempts);
    }
}
