using Edge.Format.Container;
using Edge.Offload.Emulator;
using Edge.Offload.Protocol;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Offload.Tests;

public sealed class OptionsTests : IDisposable
{
    readonly TinyModel _tiny = new();

    public void Dispose() => _tiny.Dispose();

    [Theory]
    [InlineData("spi:0.0@12MHz", 0, 0, 12_000_000)]
    [InlineData("spi:1.2@500kHz", 1, 2, 500_000)]
    [InlineData("spi:0.1", 0, 1, 12_000_000)]
    [InlineData("spi:0.0@31.25MHz", 0, 0, 31_250_000)]
    [InlineData("spi:0.0@8000000", 0, 0, 8_000_000)]
    public void ParsesSpiTargets(string text, int bus, int cs, int hz)
    {
        var t = OffloadTarget.Parse(text);
        Assert.False(t.IsEmulator);
        Assert.Equal((bus, cs, hz), (t.Bus, t.ChipSelect, t.ClockHz));
    }

    [Fact]
    public void ParsesEmulatorTargets()
    {
        Assert.Equal((true, 12_000_000, 0.0), Fields(OffloadTarget.Parse("emu")));
        Assert.Equal((true, 25_000_000, 0.01), Fields(OffloadTarget.Parse("emu@25MHz:faults=0.01,seed=7")));
        Assert.Equal(7, OffloadTarget.Parse("emu:faults=0.01,seed=7").FaultSeed);
        var spaced = OffloadTarget.Parse("emu:faults=0.02,seed=3,gap=60");
        Assert.Equal(60, spaced.FaultGap);
        Assert.True(((TernaryDeviceEmulator)spaced.Open()).Faults!.EveryFaultDetectable);
        static (bool, int, double) Fields(OffloadTarget t) => (t.IsEmulator, t.ClockHz, t.FaultRate);
    }

    [Theory]
    [InlineData("spi:0")]
    [InlineData("spi:a.b")]
    [InlineData("spi:0.0@fast")]
    [InlineData("spi:0.0@0MHz")]
    [InlineData("usb:0")]
    [InlineData("emu:faults=2")]
    [InlineData("emu:speed=1")]
    [InlineData("emu:faults=0.1,gap=-1")]
    public void RejectsBadTargetsWithUsage(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => OffloadTarget.Parse(text));
        Assert.Matches("spi:|faults=|12MHz", e.Message);
    }

    [Fact]
    public void AMissingSpidevNodeSaysHowToEnableSpi()
    {
        var e = Assert.Throws<OffloadException>(() => OffloadTarget.Parse("spi:9.9@1MHz").Open());
        Assert.Contains("/dev/spidev9.9", e.Message, StringComparison.Ordinal);
        Assert.Contains("emulator (emu)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BitLinearLayersAreInModelOrder()
    {
        var names = _tiny.Weights.BitLinearLayers.Select(l => l.Name).ToList();
        Assert.Equal(TinyModel.Blocks * 6 + 1, names.Count);
        Assert.Equal(["model.layers.0.attn.i_proj", "model.layers.0.attn.f_proj", "model.layers.0.attn.g_proj",
            "model.layers.0.attn.o_proj", "model.layers.0.mlp.gate_proj", "model.layers.0.mlp.down_proj"], names.Take(6));
        Assert.Equal("lm_head", names[^1]);
    }

    [Theory]
    [InlineData("1", 6, "model.layers.1.attn.i_proj")]
    [InlineData("0-2", 18, "model.layers.0.attn.i_proj")]
    [InlineData("model.layers.*.attn.o_proj", 3, "model.layers.0.attn.o_proj")]
    [InlineData("lm_head, model.layers.2.mlp.down_proj", 2, "model.layers.2.mlp.down_proj")]
    [InlineData("model.layers.?.attn.*_proj", 12, "model.layers.0.attn.i_proj")]
    [InlineData("fit", 19, "model.layers.0.attn.i_proj")]
    public void SelectsLayers(string text, int count, string first)
    {
        var selected = LayerSelector.Parse(text).Select(_tiny.Weights);
        Assert.Equal(count, selected.Count);
        Assert.Equal(first, selected[0].Name);
    }

    [Theory]
    [InlineData("")]
    [InlineData("3-1")]
    [InlineData("0-9")]
    [InlineData("1-2-3")]
    [InlineData("model.layers.*.attn.q_proj")]
    public void RejectsSelectionsThatSelectNothingOrAreMalformed(string text) =>
        Assert.Throws<ArgumentException>(() => LayerSelector.Parse(text).Select(_tiny.Weights));

    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("a*c", "abbbc", true)]
    [InlineData("a*c", "abbbd", false)]
    [InlineData("a?c", "abc", true)]
    [InlineData("a?c", "ac", false)]
    [InlineData("lm_head", "lm_head", true)]
    [InlineData("lm_head", "lm_head2", false)]
    public void GlobsMatchWholeNames(string glob, string name, bool expected) => Assert.Equal(expected, LayerSelector.Matches(glob, name));

    [Theory]
    [InlineData(12_000_000)]
    [InlineData(25_000_000)]
    [InlineData(50_000_000)]
    public void TheTrafficModelPredictsTheEmulatorsTrafficExactly(int sclkHz)
    {
        var device = new TernaryDeviceEmulator(sclkHz: sclkHz);
        var selector = LayerSelector.Parse("0-1");
        var offload = SpiTernaryOffload.Start(device, selector.Select(_tiny.Weights), fit: false, _ => { });
        var model = new HgrnBitModel(_tiny.Weights, new TernaryExecutor(new ScalarTernaryKernel()));
        model.Executor.Offload = offload;
        var state = model.CreateState();
        var logits = new float[TinyModel.Vocab];
        model.Forward([3], state, logits);
        long frames = offload.Frames, bytes = offload.Bytes;
        model.Forward([4], state, logits);
        var predicted = TrafficModel.Token(TinyModel.Hidden, TinyModel.Intermediate, 2, DeviceInfo.Up5k, sclkHz, 4096, 0);
        Assert.Equal(predicted.Frames, offload.Frames - frames);
        Assert.Equal(predicted.Bytes, offload.Bytes - bytes);
    }
}

public sealed class SessionTests : IDisposable
{
    readonly TinyModel _tiny = new();

    public void Dispose() => _tiny.Dispose();

    [Fact]
    public void AttachAndDisposeSetAndClearTheExecutorsOffload()
    {
        var model = new HgrnBitModel(_tiny.Weights, new TernaryExecutor(new ScalarTernaryKernel()));
        var warnings = new List<string>();
        using (var session = OffloadSession.Attach(model, "emu@25MHz", "model.layers.*.attn.o_proj", warnings.Add))
        {
            Assert.Same(session.Offload, model.Executor.Offload);
            Assert.Contains("3 BitLinear layers", session.Describe(), StringComparison.Ordinal);
            model.Forward([1, 2], model.CreateState(), new float[TinyModel.Vocab]);
            Assert.Contains("3 products on the device", session.Summary(), StringComparison.Ordinal);
        }
        Assert.Null(model.Executor.Offload);
        Assert.Empty(warnings);
    }

    [Fact]
    public void OnePointSixBitLayersAreRefusedBeforeTheDeviceIsOpened()
    {
        using var tiny = new TinyModel(layout: TensorType.TernaryFiveTrit);
        var model = new HgrnBitModel(tiny.Weights, new TernaryExecutor(new ScalarTernaryKernel()));
        var error = Assert.Throws<ArgumentException>(() => OffloadSession.Attach(model, "emu@25MHz", "fit", _ => { }));
        Assert.Contains("RepackFiveTrit", error.Message, StringComparison.Ordinal);
        Assert.Null(model.Executor.Offload);
    }
}
