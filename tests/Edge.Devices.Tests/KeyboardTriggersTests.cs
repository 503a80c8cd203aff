using System.Device.Gpio;
using Edge.Devices.Configuration;
using Edge.Devices.Simulation;
using Iot.Device.Hcsr501;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Devices.Tests;

public class KeyboardTriggersTests
{
    sealed class FakeLifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;
        public CancellationToken ApplicationStopping => CancellationToken.None;
        public CancellationToken ApplicationStopped => CancellationToken.None;
        public bool StopRequested { get; private set; }

        public void StopApplication() => StopRequested = true;
    }

    [Fact]
    public void Keys_drive_the_simulated_devices_and_q_quits()
    {
        var board = new SimulatedBoard();
        var options = new SensorDaemonOptions();
        var lifetime = new FakeLifetime();
        var keys = new KeyboardTriggers(board, options, lifetime, NullLogger<KeyboardTriggers>.Instance);
        using var controller = board.OpenGpio();
        using var pir = new Hcsr501(options.Gpio.MotionPin!.Value, controller, shouldDispose: false);
        var motion = new List<PinValue>();
        pir.Hcsr501ValueChanged += (_, e) => motion.Add(e.PinValue);
        double start = board.Bme280.Temperature;

        Assert.True(keys.Handle('t'));
        Assert.True(keys.Handle('t'));
        Assert.True(keys.Handle('T'));
        Assert.True(keys.Handle('m'));
        Assert.True(keys.Handle('x'));
        Assert.False(lifetime.StopRequested);
        Assert.False(keys.Handle('q'));

        Assert.Equal(start + KeyboardTriggers.TemperatureStep, board.Bme280.Temperature, 2);
        Assert.Equal([PinValue.High, PinValue.Low], motion);
        Assert.True(lifetime.StopRequested);
    }
}
