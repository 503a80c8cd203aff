using System.Device.Gpio;
using System.Device.I2c;
using Edge.Devices.Devices;

namespace Edge.Devices.Simulation;

/// <summary>
/// A Raspberry Pi with nothing but simulated parts: a GPIO header (<see cref="Gpio"/>), a BME280 and a PCF8574 LCD
/// backpack on I2C. The real bindings run against them, so <c>--simulate</c> and the tests exercise the same code as
/// a board does. An I2C address with no simulated device behind it throws <see cref="IOException"/>, as Linux does.
/// </summary>
public sealed class SimulatedBoard : IDeviceBoard
{
    public SimulatedBoard(int bme280Address = 0x76, int lcdAddress = 0x27)
    {
        Bme280 = new SimulatedBme280(1, bme280Address);
        Lcd = new SimulatedCharacterLcd(1, lcdAddress);
    }

    public SimulatedGpioDriver Gpio { get; } = new();
    public SimulatedBme280 Bme280 { get; }
    public SimulatedCharacterLcd Lcd { get; }

    public GpioController OpenGpio() => new(Gpio);

    public I2cDevice OpenI2c(int bus, int address)
    {
        if (bus == Bme280.ConnectionSettings.BusId && address == Bme280.ConnectionSettings.DeviceAddress)
            return Bme280;
        if (bus == Lcd.ConnectionSettings.BusId && address == Lcd.ConnectionSettings.DeviceAddress)
            return Lcd;
        throw new IOException($"No simulated device at address 0x{address:X2} on I2C bus {bus}.");
    }
}
