using System.Device.Spi;
using Edge.Format.Container;
using Edge.Offload.Emulator;
using Edge.Offload.Protocol;
using Edge.Runtime.Model;

namespace Edge.Offload;

/// <summary>
/// Attaches an offload device to a model's executor for the lifetime of the session (what
/// <c>edge generate --offload … --offload-layers …</c> does) and detaches it on dispose.
/// </summary>
internal sealed class OffloadSession : IDisposable
{
    readonly HgrnBitModel _model;

    OffloadSession(HgrnBitModel model, OffloadTarget target, SpiDevice device, SpiTernaryOffload offload)
    {
        _model = model;
        Target = target;
        Device = device;
        Offload = offload;
    }

    public OffloadTarget Target { get; }
    public SpiDevice Device { get; }
    public SpiTernaryOffload Offload { get; }

    /// <param name="target">See <see cref="OffloadTarget.Parse"/>.</param>
    /// <param name="layers">See <see cref="LayerSelector.Parse"/>.</param>
    /// <param name="warn">Receives one line per fault that makes a layer fall back to the CPU.</param>
    public static OffloadSession Attach(HgrnBitModel model, string target, string layers, Action<string> warn,
        OffloadOptions? options = null, DeviceInfo? emulatedDevice = null)
    {
        var parsedTarget = OffloadTarget.Parse(target);
        var selector = LayerSelector.Parse(layers);
        var candidates = selector.Select(model.Weights);
        if (candidates.FirstOrDefault(c => c.Layer.Matrix.Layout != TensorType.Ternary2) is { Name: { } packed })
            throw new ArgumentException($"{packed} is read in the 1.6-bit layout, which the device does not take; load the model with LoadOptions.RepackFiveTrit (edge does this with --offload).");
        var device = parsedTarget.Open(emulatedDevice);
        try
        {
            var offload = SpiTernaryOffload.Start(device, candidates, selector.Fit, warn, options);
            model.Executor.Offload = offload;
            return new OffloadSession(model, parsedTarget, device, offload);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>One line for the log: what is offloaded where.</summary>
    public string Describe()
    {
        var names = Offload.OffloadedLayers.ToList();
        var info = Offload.Info;
        return $"FPGA offload to {Target}: {names.Count} BitLinear layers ({Offload.PlannedBytes / 1024.0:F1} of {info.WeightBytes / 1024} KiB), " +
            $"{info.Lanes} lanes at {info.FabricClockKHz / 1000.0:F0} MHz, SCLK {Device.ConnectionSettings.ClockFrequency / 1e6:F1} MHz" +
            (names.Count > 0 ? $": {string.Join(", ", names.Take(4))}{(names.Count > 4 ? ", …" : "")}" : "");
    }

    /// <summary>One line for the log: what happened on the link.</summary>
    public string Summary() => $"FPGA offload: {Offload.Frames:N0} SPI frames, {Offload.Bytes:N0} bytes; {Offload.Statistics}" +
        (Device is TernaryDeviceEmulator { Faults: { } faults } ? $"; the emulator injected {faults}" : "");

    public void Dispose()
    {
        if (ReferenceEquals(_model.Executor.Offload, Offload))
            _model.Executor.Offload = null;
        Device.Dispose();
    }
}
