using System.Device.Spi;
using System.Runtime.InteropServices;
using Edge.Offload.Protocol;

namespace Edge.Offload.Simulation;

/// <summary>
/// The gateware itself (fpga/rtl, Verilated into fpga/build/cosim/libtmv_rtl.so by fpga/cosim/build.sh) behind
/// <see cref="SpiDevice"/>: one <see cref="TransferFullDuplex"/> is one chip-select frame, bit-banged into the RTL at
/// f_clk / SCLK fabric clocks per bit. The host client cannot tell it from the emulator or from spidev.
/// </summary>
public sealed unsafe class RtlSimDevice : SimulatedSpiDevice
{
    /// <summary>The fabric clock the gateware runs at (HFOSC / 2 on the UP5K; its INFO says so too).</summary>
    public static int FabricClockHz => DeviceInfo.Up5kGateware.FabricClockKHz * 1000;

    /// <summary>The fastest SCLK the gateware is rated for: f_clk / 4.</summary>
    public static int MaxSclkHz => DeviceInfo.Up5kGateware.MaxSclkKHz * 1000;

    readonly nint _library;
    readonly delegate* unmanaged<nint, void> _destroy;
    readonly delegate* unmanaged<nint, byte*, byte*, int, int, int> _frame;
    readonly delegate* unmanaged<nint, ulong> _clocks;
    readonly SpiConnectionSettings _settings;
    readonly int _clocksPerBit;
    nint _device;

    /// <param name="libraryPath">The co-simulation library.</param>
    /// <param name="sclkHz">SCLK; f_clk / SCLK must be an even number of at least 4; 0 means <see cref="MaxSclkHz"/>
    /// (6 MHz: 4 clocks per bit).</param>
    public RtlSimDevice(string libraryPath, int sclkHz = 0)
    {
        if (sclkHz == 0)
            sclkHz = MaxSclkHz;
        if (sclkHz <= 0 || FabricClockHz % sclkHz != 0 || FabricClockHz / sclkHz < 4 || FabricClockHz / sclkHz % 2 != 0)
            throw new ArgumentException($"The RTL simulation needs an SCLK that divides {FabricClockHz / 1e6:0.###} MHz into an even number of at least 4 clocks per bit (6, 3, 2, 1.5 MHz, ...), not {sclkHz / 1e6:0.###} MHz.");
        if (!File.Exists(libraryPath))
            throw new OffloadException($"The RTL co-simulation library {libraryPath} does not exist; build it with fpga/cosim/build.sh (needs verilator and g++).");
        _library = NativeLibrary.Load(libraryPath);
        try
        {
            var create = (delegate* unmanaged<nint>)NativeLibrary.GetExport(_library, "tmv_create");
            _destroy = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(_library, "tmv_destroy");
            _frame = (delegate* unmanaged<nint, byte*, byte*, int, int, int>)NativeLibrary.GetExport(_library, "tmv_frame");
            _clocks = (delegate* unmanaged<nint, ulong>)NativeLibrary.GetExport(_library, "tmv_clocks");
            _device = create();
        }
        catch (EntryPointNotFoundException e)
        {
            NativeLibrary.Free(_library);
            throw new OffloadException($"{libraryPath} is not a TMV1 co-simulation library ({e.Message}); rebuild it with fpga/cosim/build.sh.");
        }
        _clocksPerBit = FabricClockHz / sclkHz;
        _settings = new SpiConnectionSettings(0, 0) { ClockFrequency = sclkHz, Mode = SpiMode.Mode0 };
    }

    public override SpiConnectionSettings ConnectionSettings => _settings;

    /// <summary>Fabric clocks simulated so far.</summary>
    public long Clock => (long)_clocks(Handle);

    public long Frames { get; private set; }

    nint Handle => _device != 0 ? _device : throw new ObjectDisposedException(nameof(RtlSimDevice));

    public override void TransferFullDuplex(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        if (writeBuffer.Length != readBuffer.Length)
            throw new ArgumentException("A full-duplex transfer needs equal write and read lengths.");
        if (writeBuffer.Length == 0)
            return;
        Frames++;
        fixed (byte* tx = writeBuffer)
        fixed (byte* rx = readBuffer)
        {
            if (_frame(Handle, tx, rx, writeBuffer.Length, _clocksPerBit) != 0)
                throw new InvalidOperationException("The co-simulation refused the frame.");
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (_device != 0)
        {
            _destroy(_device);
            _device = 0;
            NativeLibrary.Free(_library);
        }
        base.Dispose(disposing);
    }
}
