using System.Device.Spi;

namespace Edge.Offload;

/// <summary>
/// An SPI device simulated in this process (the emulator, the RTL co-simulation). Every exchange on the wire is full
/// duplex, so the half-duplex calls of <see cref="SpiDevice"/> go through <see cref="SpiDevice.TransferFullDuplex"/>,
/// sending zeros while they read and discarding what comes back while they write.
/// </summary>
public abstract class SimulatedSpiDevice : SpiDevice
{
    public override void Read(Span<byte> buffer) => TransferFullDuplex(new byte[buffer.Length], buffer);

    public override void Write(ReadOnlySpan<byte> buffer) => TransferFullDuplex(buffer, new byte[buffer.Length]);

    public override byte ReadByte()
    {
        Span<byte> b = stackalloc byte[1];
        Read(b);
        return b[0];
    }

    public override void WriteByte(byte value) => Write([value]);
}
