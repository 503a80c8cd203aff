using System.Device.I2c;

namespace Edge.Devices.Simulation;

/// <summary>
/// A 256-byte register file behind an I2C address, with the usual auto-increment: a write sets the register
/// pointer from its first byte and stores the rest; reads continue from the pointer.
/// </summary>
public class SimulatedI2cDevice(int busId, int address) : I2cDevice
{
    readonly Lock _lock = new();
    byte _pointer;
    long _transfers;

    public override I2cConnectionSettings ConnectionSettings { get; } = new(busId, address);

    /// <summary>The register file; guarded by <see cref="Sync"/> when changed from another thread.</summary>
    protected byte[] Registers { get; } = new byte[256];

    protected Lock Sync => _lock;

    /// <summary>Reads and writes so far (failed ones included): lets a test wait for the device to be polled.</summary>
    public long TransferCount => Interlocked.Read(ref _transfers);

    /// <summary>While set, every transfer throws <see cref="IOException"/> as an unplugged device would.</summary>
    public bool Unplugged { get; set; }

    public override byte ReadByte()
    {
        lock (_lock)
        {
            ThrowIfUnplugged();
            return Registers[_pointer++];
        }
    }

    public override void Read(Span<byte> buffer)
    {
        lock (_lock)
        {
            ThrowIfUnplugged();
            for (int i = 0; i < buffer.Length; i++)
                buffer[i] = Registers[_pointer++];
        }
    }

    public override void WriteByte(byte value) => Write([value]);

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_lock)
        {
            ThrowIfUnplugged();
            if (buffer.IsEmpty)
                return;
            _pointer = buffer[0];
            for (int i = 1; i < buffer.Length; i++)
                Registers[_pointer++] = buffer[i];
        }
    }

    public override void WriteRead(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        Write(writeBuffer);
        Read(readBuffer);
    }

    void ThrowIfUnplugged()
    {
        Interlocked.Increment(ref _transfers);
        if (Unplugged)
            throw new IOException($"Simulated I2C device 0x{ConnectionSettings.DeviceAddress:X2} on bus {ConnectionSettings.BusId} does not answer (unplugged).");
    }
}
