namespace Edge.Devices.Simulation;

/// <summary>
/// A 16×2 HD44780 display behind a PCF8574 I2C backpack, emulated from the bytes the real
/// <c>Lcd1602</c>/<c>LcdInterface.CreateI2c</c> binding writes. Backpack bits: P0 = RS, P1 = R/W, P2 = E,
/// P3 = backlight, P4–P7 = D4–D7. The controller latches a nibble on the falling edge of E; it starts in 8-bit
/// mode and switches to 4-bit on a "function set" with DL = 0, as the real chip does.
/// </summary>
public sealed class SimulatedCharacterLcd(int busId = 1, int address = 0x27) : SimulatedI2cDevice(busId, address)
{
    public const int Columns = 16, Rows = 2;
    const byte RegisterSelect = 0x01, Enable = 0x04, Backlight = 0x08;

    // DDRAM: 0x00–0x27 is line 1, 0x40–0x67 line 2; only the first 16 columns are visible.
    readonly byte[] _ddram = new byte[0x80];
    byte _lastWrite;
    bool _fourBitMode;
    int? _pendingHighNibble;
    int _address;
    bool _incrementAddress = true;
    int _version;

    /// <summary>Counts changes to the visible text, so a renderer can tell when to redraw.</summary>
    public int Version => Volatile.Read(ref _version);

    public bool BacklightOn { get; private set; }

    /// <summary>The visible text, one string per line. HD44780 ROM code 0xDF is shown as °.</summary>
    public string[] ReadLines()
    {
        lock (Sync)
        {
            var lines = new string[Rows];
            for (int row = 0; row < Rows; row++)
            {
                var chars = new char[Columns];
                for (int col = 0; col < Columns; col++)
                {
                    byte b = _ddram[row * 0x40 + col];
                    chars[col] = b switch { 0xDF => '°', >= 0x20 and < 0x7F => (char)b, 0 => ' ', _ => '?' };
                }
                lines[row] = new string(chars);
            }
            return lines;
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        // The backpack has no registers: every byte written is the new state of its eight output pins.
        lock (Sync)
        {
            if (Unplugged)
                throw new IOException($"Simulated LCD backpack 0x{ConnectionSettings.DeviceAddress:X2} does not answer (unplugged).");
            foreach (byte pins in buffer)
                OnPins(pins);
        }
    }

    void OnPins(byte pins)
    {
        BacklightOn = (pins & Backlight) != 0;
        bool fallingEnable = (_lastWrite & Enable) != 0 && (pins & Enable) == 0;
        _lastWrite = pins;
        if (!fallingEnable)
            return;
        int nibble = pins >> 4;
        bool isData = (pins & RegisterSelect) != 0;
        if (!_fourBitMode)
        {
            Execute((byte)(nibble << 4), isData);
            return;
        }
        if (_pendingHighNibble is int high)
        {
            _pendingHighNibble = null;
            Execute((byte)((high << 4) | nibble), isData);
        }
        else
        {
            _pendingHighNibble = nibble;
        }
    }

    void Execute(byte value, bool isData)
    {
        if (isData)
        {
            _ddram[_address & 0x7F] = value;
            _address = (_address + (_incrementAddress ? 1 : -1)) & 0x7F;
            _version++;
            return;
        }
        if ((value & 0x80) != 0)                 // set DDRAM address
            _address = value & 0x7F;
        else if ((value & 0x40) != 0)            // set CGRAM address: custom characters are not emulated
            return;
        else if ((value & 0x20) != 0)            // function set: DL bit chooses the interface width
            _fourBitMode = (value & 0x10) == 0;
        else if ((value & 0x04) != 0)            // entry mode set
            _incrementAddress = (value & 0x02) != 0;
        else if ((value & 0x02) != 0)            // return home
            _address = 0;
        else if (value == 0x01)                  // clear display
        {
            Array.Fill(_ddram, (byte)' ');
            _address = 0;
            _incrementAddress = true;
            _version++;
        }
    }
}
