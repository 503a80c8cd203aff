using System.Device.Spi;
using System.Globalization;
using Edge.Offload.Emulator;
using Edge.Offload.Protocol;

namespace Edge.Offload;

/// <summary>
/// Where the offload device is: <c>spi:B.C@FREQ</c> (Linux spidev <c>/dev/spidevB.C</c>, SPI mode 0, e.g.
/// <c>spi:0.0@12MHz</c>) or <c>emu</c> (the in-process emulator of a UP5K build), optionally
/// <c>emu@25MHz:faults=0.01,seed=7</c> to emulate that SCLK and inject random link faults (add <c>gap=200</c> for
/// faults at least that many frames apart, each one the host must detect: see <see cref="EmulatorFaults"/>), or <c>rtl:PATH[@FREQ]</c>
/// (the gateware itself, simulated: PATH is the library fpga/cosim/build.sh builds; plain <c>rtl</c> takes it from
/// $EDGE_TMV_RTL; FREQ defaults to the gateware's rated SCLK).
/// </summary>
public sealed record OffloadTarget
{
    public const int DefaultClockHz = 12_000_000;

    public bool IsEmulator { get; init; }

    /// <summary>The RTL co-simulation library, when the target is <c>rtl</c>.</summary>
    public string? RtlLibrary { get; init; }

    /// <summary>Environment variable naming the co-simulation library for a plain <c>rtl</c> target.</summary>
    public const string RtlLibraryVariable = "EDGE_TMV_RTL";
    public int Bus { get; init; }
    public int ChipSelect { get; init; }
    public int ClockHz { get; init; } = DefaultClockHz;

    /// <summary>Emulator only: probability of a random fault per frame.</summary>
    public double FaultRate { get; init; }
    public int FaultSeed { get; init; } = 1;

    /// <summary>Emulator only: see <see cref="EmulatorFaults.MinimumGap"/>.</summary>
    public int FaultGap { get; init; }

    public string Text { get; init; } = "";

    public static OffloadTarget Parse(string text)
    {
        string t = text.Trim();
        string usage = "use spi:B.C@FREQ (e.g. spi:0.0@12MHz), emu (e.g. emu, emu@25MHz, emu:faults=0.01,seed=7) or rtl:PATH (the simulated gateware)";
        if (t.Equals("rtl", StringComparison.OrdinalIgnoreCase) || t.StartsWith("rtl@", StringComparison.OrdinalIgnoreCase)
            || t.StartsWith("rtl:", StringComparison.OrdinalIgnoreCase))
        {
            string rest = t[3..];
            int clock = Simulation.RtlSimDevice.MaxSclkHz;  // the gateware's rated SCLK, as on the board
            int at = rest.LastIndexOf('@');
            if (at >= 0)
            {
                clock = ParseFrequency(rest[(at + 1)..]);
                rest = rest[..at];
            }
            string library = rest.StartsWith(':') ? rest[1..] : Environment.GetEnvironmentVariable(RtlLibraryVariable) ?? "";
            if (library.Length == 0)
                throw new ArgumentException($"Offload target \"{text}\" names no simulation library: use rtl:PATH (built by fpga/cosim/build.sh) or set {RtlLibraryVariable}.");
            return new OffloadTarget { RtlLibrary = library, ClockHz = clock, Text = t };
        }
        if (t.StartsWith("emu", StringComparison.OrdinalIgnoreCase))
        {
            string rest = t[3..];
            string options = "";
            int colon = rest.IndexOf(':');
            if (colon >= 0)
            {
                options = rest[(colon + 1)..];
                rest = rest[..colon];
            }
            var target = new OffloadTarget { IsEmulator = true, Text = t };
            if (rest.Length > 0)
            {
                if (rest[0] != '@')
                    throw new ArgumentException($"Offload target \"{text}\" is not valid: {usage}.");
                target = target with { ClockHz = ParseFrequency(rest[1..]) };
            }
            foreach (var option in options.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var kv = option.Split('=', 2);
                if (kv.Length == 2 && kv[0] == "faults" && double.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double rate) && rate is >= 0 and <= 1)
                    target = target with { FaultRate = rate };
                else if (kv.Length == 2 && kv[0] == "seed" && int.TryParse(kv[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int seed))
                    target = target with { FaultSeed = seed };
                else if (kv.Length == 2 && kv[0] == "gap" && int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out int gap) && gap <= 1_000_000)
                    target = target with { FaultGap = gap };
                else
                    throw new ArgumentException($"Emulator option \"{option}\" is not valid: use faults=<0..1>, seed=<integer> and gap=<frames>.");
            }
            return target;
        }
        if (t.StartsWith("spi:", StringComparison.OrdinalIgnoreCase))
        {
            string rest = t[4..];
            int clock = DefaultClockHz;
            int at = rest.IndexOf('@');
            if (at >= 0)
            {
                clock = ParseFrequency(rest[(at + 1)..]);
                rest = rest[..at];
            }
            var busCs = rest.Split('.');
            if (busCs.Length == 2 && int.TryParse(busCs[0], NumberStyles.None, CultureInfo.InvariantCulture, out int bus)
                && int.TryParse(busCs[1], NumberStyles.None, CultureInfo.InvariantCulture, out int cs))
                return new OffloadTarget { Bus = bus, ChipSelect = cs, ClockHz = clock, Text = t };
        }
        throw new ArgumentException($"Offload target \"{text}\" is not valid: {usage}.");
    }

    /// <summary>Parses 12MHz, 12.5MHz, 500kHz, 12M or a plain number of Hz.</summary>
    public static int ParseFrequency(string text)
    {
        string t = text.Trim();
        double multiplier = 1;
        foreach (var (suffix, factor) in new[] { ("mhz", 1e6), ("khz", 1e3), ("hz", 1.0), ("m", 1e6), ("k", 1e3) })
        {
            if (t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                t = t[..^suffix.Length];
                multiplier = factor;
                break;
            }
        }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value * multiplier is >= 1_000 and <= 200e6))
            throw new ArgumentException($"SPI clock \"{text}\" is not valid; give it like 12MHz or 500kHz (1 kHz to 200 MHz).");
        return (int)Math.Round(value * multiplier);
    }

    /// <summary>Opens the device. For spidev, a missing node is reported with how to enable SPI.</summary>
    public SpiDevice Open(DeviceInfo? emulatedDevice = null)
    {
        if (RtlLibrary is not null)
            return new Simulation.RtlSimDevice(RtlLibrary, ClockHz);
        if (IsEmulator)
            return new TernaryDeviceEmulator(emulatedDevice, ClockHz,
                FaultRate > 0 ? new EmulatorFaults(FaultRate, FaultSeed) { MinimumGap = FaultGap } : null);
        string node = $"/dev/spidev{Bus}.{ChipSelect}";
        if (!File.Exists(node))
            throw new OffloadException(
                $"{node} does not exist. Enable SPI (Raspberry Pi: dtparam=spi=on in config.txt, then reboot), check the bus and chip select, or use the emulator (emu) instead.");
        return SpiDevice.Create(new SpiConnectionSettings(Bus, ChipSelect) { ClockFrequency = ClockHz, Mode = SpiMode.Mode0 });
    }

    public override string ToString() => Text;
}
