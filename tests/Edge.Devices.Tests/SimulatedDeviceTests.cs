using System.Device.Gpio;
using Edge.Devices.Simulation;
using Iot.Device.Bmxx80;
using Iot.Device.Bmxx80.PowerMode;
using Iot.Device.Button;
using Iot.Device.CharacterLcd;
using Iot.Device.Hcsr501;

namespace Edge.Devices.Tests;

/// <summary>The simulated parts behave like the real ones as far as the real dotnet/iot bindings can tell.</summary>
public class SimulatedDeviceTests
{
    static Bme280 OpenBme280(SimulatedBme280 device)
    {
        var sensor = new Bme280(device)
        {
            TemperatureSampling = Sampling.Standard,
            PressureSampling = Sampling.Standard,
            HumiditySampling = Sampling.Standard,
        };
        sensor.SetPowerMode(Bmx280PowerMode.Forced);
        return sensor;
    }

    [Fact]
    public void Bme280_binding_reads_the_datasheet_example_values()
    {
        using var sensor = OpenBme280(new SimulatedBme280());

        var reading = sensor.Read();

        // Bosch BME280 datasheet compensation example: adc_T 519888, adc_P 415148, adc_H 30000.
        Assert.Equal(25.0825, reading.Temperature!.Value.DegreesCelsius, 3);
        Assert.Equal(1006.5327, reading.Pressure!.Value.Hectopascals, 3);
        Assert.Equal(56.07, reading.Humidity!.Value.Percent, 1);
    }

    [Theory]
    [InlineData(-10.0)]
    [InlineData(21.4)]
    [InlineData(31.7)]
    public void Bme280_binding_reads_the_temperature_the_simulation_was_set_to(double celsius)
    {
        var device = new SimulatedBme280();
        using var sensor = OpenBme280(device);

        device.SetTemperature(celsius);

        Assert.True(sensor.TryReadTemperature(out var temperature));
        Assert.Equal(celsius, temperature.DegreesCelsius, 1);
    }

    [Fact]
    public void Unplugged_bme280_throws_IOException_like_a_missing_device()
    {
        var device = new SimulatedBme280();
        using var sensor = OpenBme280(device);

        device.Unplugged = true;

        Assert.Throws<IOException>(() => sensor.Read());
    }

    [Fact]
    public void Lcd1602_over_the_simulated_PCF8574_shows_what_was_written()
    {
        var backpack = new SimulatedCharacterLcd();
        using var lcd = new Lcd1602(LcdInterface.CreateI2c(backpack, uses8Bit: false));

        lcd.Clear();
        lcd.SetCursorPosition(0, 0);
        lcd.Write("Hello, Pi!");
        lcd.SetCursorPosition(3, 1);
        lcd.Write("21.5" + (char)0xDF + "C");

        Assert.Equal(["Hello, Pi!      ", "   21.5°C       "], backpack.ReadLines());
        Assert.True(backpack.BacklightOn);
    }

    [Fact]
    public void Pir_binding_sees_a_rising_edge_on_the_simulated_pin()
    {
        var driver = new SimulatedGpioDriver();
        using var controller = new GpioController(driver);
        using var pir = new Hcsr501(27, controller, shouldDispose: false);
        var seen = new List<PinValue>();
        pir.Hcsr501ValueChanged += (_, e) => seen.Add(e.PinValue);

        driver.SetInput(27, PinValue.High);
        driver.SetInput(27, PinValue.High);
        driver.SetInput(27, PinValue.Low);

        Assert.Equal([PinValue.High, PinValue.Low], seen);
    }

    [Fact]
    public void Button_binding_reports_one_press_per_simulated_press()
    {
        var driver = new SimulatedGpioDriver();
        using var controller = new GpioController(driver);
        using var button = new GpioButton(17, isPullUp: true, hasExternalResistor: false, controller, shouldDispose: false, TimeSpan.Zero);
        int presses = 0;
        button.Press += (_, _) => presses++;

        driver.PressButton(17);
        driver.PressButton(17);

        Assert.Equal(2, presses);
    }
}
