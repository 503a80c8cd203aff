using System.Device.Gpio;
using Edge.Devices.Triggers;
using Microsoft.Extensions.Logging;

namespace Edge.Devices.Tests;

/// <summary>The whole service on simulated buses: real bindings, simulated pins and registers, a fake model.</summary>
public class SensorTriggerServiceTests
{
    [Fact]
    public async Task A_rising_edge_on_the_PIR_pin_gives_exactly_one_generation_that_quotes_the_readings()
    {
        var options = DaemonHarness.TestOptions();
        await using var daemon = await DaemonHarness.StartAsync(options);
        await daemon.FirstReadingAsync();

        daemon.Board.Gpio.SetInput(options.Gpio.MotionPin!.Value, PinValue.High);
        daemon.Board.Gpio.SetInput(options.Gpio.MotionPin!.Value, PinValue.Low);
        // A button press afterwards marks the end: one worker serves in order, so any extra motion generation
        // would come before it.
        daemon.Board.Gpio.PressButton(options.Gpio.ButtonPin!.Value);
        var outcomes = await daemon.Sink.WaitForAsync(2);

        Assert.Equal([TriggerSource.Motion, TriggerSource.Button], outcomes.Select(o => o.Trigger.Source));
        string prompt = daemon.Generator.TriggerPrompts[0];
        Assert.StartsWith("Motion was detected", prompt);
        Assert.Contains("25.1 °C", prompt);
        Assert.Contains("56 %", prompt);
        Assert.Equal(RecordingGenerator.ReplyTo(prompt), outcomes[0].Text.Trim());
        Assert.Equal(25.08, outcomes[0].Trigger.Readings.Temperature!.Value.DegreesCelsius, 2);
    }

    [Fact]
    public async Task A_BME280_threshold_crossing_triggers_once_not_on_every_sample()
    {
        var options = DaemonHarness.TestOptions();
        options.Bme280.HighCelsius = 28;
        await using var daemon = await DaemonHarness.StartAsync(options);
        await daemon.FirstReadingAsync();

        daemon.Board.Bme280.SetTemperature(28.6);
        long transfersAbove = daemon.Board.Bme280.TransferCount;
        // Let the service take many samples above the threshold, hovering, but never below 28 - 0.5.
        await TestTimeouts.UntilAsync(() => daemon.Board.Bme280.TransferCount > transfersAbove + 200, "samples above the threshold");
        daemon.Board.Bme280.SetTemperature(27.8);
        long transfersHover = daemon.Board.Bme280.TransferCount;
        await TestTimeouts.UntilAsync(() => daemon.Board.Bme280.TransferCount > transfersHover + 200, "samples just under the threshold");
        daemon.Board.Bme280.SetTemperature(28.4);
        long transfersAgain = daemon.Board.Bme280.TransferCount;
        await TestTimeouts.UntilAsync(() => daemon.Board.Bme280.TransferCount > transfersAgain + 200, "samples above again");
        daemon.Board.Gpio.PressButton(options.Gpio.ButtonPin!.Value);
        var outcomes = await daemon.Sink.WaitForAsync(2);

        Assert.Equal([TriggerSource.TemperatureHigh, TriggerSource.Button], outcomes.Select(o => o.Trigger.Source));
        Assert.Contains("rose above 28.0 °C: it is now 28.6 °C", outcomes[0].Trigger.Prompt);
    }

    [Fact]
    public async Task A_sensor_that_stops_answering_is_logged_and_retried_while_other_triggers_keep_working()
    {
        var options = DaemonHarness.TestOptions();
        await using var daemon = await DaemonHarness.StartAsync(options);
        await daemon.FirstReadingAsync();

        daemon.Board.Bme280.Unplugged = true;
        await TestTimeouts.UntilAsync(() => daemon.Readings.Current.Temperature is null, "the service to notice the fault");
        daemon.Board.Gpio.SetInput(options.Gpio.MotionPin!.Value, PinValue.High);
        var outcomes = await daemon.Sink.WaitForAsync(1);
        daemon.Board.Bme280.Unplugged = false;
        await daemon.FirstReadingAsync();

        Assert.Equal(TriggerSource.Motion, outcomes[0].Trigger.Source);
        Assert.Contains("The room is at unknown", outcomes[0].Trigger.Prompt);
        Assert.Contains(daemon.Logs.Entries, e => e.Level == LogLevel.Warning && e.Message.StartsWith("BME280 does not answer", StringComparison.Ordinal));
        Assert.Contains(daemon.Logs.Entries, e => e.Message.StartsWith("BME280 answers again", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_LCD_shows_the_generated_text()
    {
        var options = DaemonHarness.TestOptions();
        options.Bme280.Enabled = false;
        await using var daemon = await DaemonHarness.StartAsync(options);

        daemon.Board.Gpio.PressButton(options.Gpio.ButtonPin!.Value);
        await daemon.Sink.WaitForAsync(1);

        // The LCD sink runs before the recording sink, and decoding the PCF8574 writes gives what a person would see.
        Assert.Equal(["reply to:       ", "Someone pressed "], daemon.Board.Lcd.ReadLines());
    }

    [Fact]
    public async Task A_missing_LCD_is_reported_and_generation_goes_on()
    {
        var options = DaemonHarness.TestOptions();
        options.Bme280.Enabled = false;
        options.Lcd.Address = 0x3F; // nothing simulated there
        await using var daemon = await DaemonHarness.StartAsync(options);

        daemon.Board.Gpio.PressButton(options.Gpio.ButtonPin!.Value);
        var outcomes = await daemon.Sink.WaitForAsync(1);

        Assert.Equal(TriggerSource.Button, outcomes[0].Trigger.Source);
        Assert.Contains(daemon.Logs.Entries, e => e.Level == LogLevel.Error && e.Message.Contains("LCD (I2C bus 1, address 0x3F) is not available", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_burst_of_triggers_while_generating_keeps_the_newest_and_counts_the_rest()
    {
        var options = DaemonHarness.TestOptions();
        options.Bme280.Enabled = false;
        options.Queue.Capacity = 2;
        var generator = new RecordingGenerator { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var daemon = await DaemonHarness.StartAsync(options, generator);

        daemon.Board.Gpio.PressButton(options.Gpio.ButtonPin!.Value);
        await TestTimeouts.UntilAsync(() => generator.TriggerPrompts.Length == 1, "the first generation to start");
        for (int i = 0; i < 5; i++)
        {
            daemon.Board.Gpio.SetInput(options.Gpio.MotionPin!.Value, PinValue.High);
            daemon.Board.Gpio.SetInput(options.Gpio.MotionPin!.Value, PinValue.Low);
        }
        daemon.Board.Gpio.PressButton(options.Gpio.ButtonPin!.Value);
        generator.Gate.SetResult();
        var outcomes = await daemon.Sink.WaitForAsync(3);

        // Running: button. Waiting room for 2: five motions and a button arrive, the oldest four are dropped.
        Assert.Equal([TriggerSource.Button, TriggerSource.Motion, TriggerSource.Button], outcomes.Select(o => o.Trigger.Source));
        Assert.Equal(4, daemon.Queue.DroppedCount);
        Assert.Contains(daemon.Logs.Entries, e => e.Message.Contains("4 dropped so far", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Stopping_the_service_cancels_the_generation_in_progress()
    {
        var options = DaemonHarness.TestOptions();
        options.Bme280.Enabled = false;
        var generator = new RecordingGenerator { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var daemon = await DaemonHarness.StartAsync(options, generator);

        daemon.Board.Gpio.PressButton(options.Gpio.ButtonPin!.Value);
        await TestTimeouts.UntilAsync(() => generator.TriggerPrompts.Length == 1, "the generation to start");
        await daemon.DisposeAsync();

        Assert.Equal(1, generator.CancelledCount);
        Assert.Empty(daemon.Sink.Outcomes);
    }
}
