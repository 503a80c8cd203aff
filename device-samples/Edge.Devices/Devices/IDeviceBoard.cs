using System.Device.Gpio;
using System.Device.Gpio.Drivers;
using System.Device.I2c;

namespace Edge.Devices.Devices;

/// <summary>Opens the buses the daemon uses: real ones on a Pi, simulated ones on a PC and in tests.</summary>
public interface IDeviceBoard
{
    /// <summary>A controller for the header pins; the caller disposes it.</summary>
    GpioController OpenGpio();

    /// <summary>A device on an I2C bus; the caller (or the binding it is handed to) disposes it.</summary>
    I2cDevice OpenI2c(int bus, int address);
}

/// <summary>
/// The Raspberry Pi's buses through the Linux character devices: <c>/dev/gpiochipN</c> via libgpiod (chip from
/// <c>Gpio:Chip</c>, see the README for the Pi 5 numbering) and <c>/dev/i2c-N</c>.
/// </summary>
public sealed class HardwareBoard(int gpioChip) : IDeviceBoard
{
    public GpioController OpenGpio() => new(new LibGpiodDriver(gpioChip));

    public I2cDevice OpenI2c(int bus, int address) => I2cDevice.Create(new I2cConnectionSettings(bus, address));
}
