using Edge.Devices.Configuration;
using Edge.Devices.Readings;
using Edge.Devices.Simulation;
using Edge.Devices.Sinks;
using Edge.Devices.Triggers;
using Iot.Device.CharacterLcd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Devices.Tests;

public class LcdSinkTests
{
    static GenerationOutcome Outcome(string text) =>
        new(new Trigger(TriggerSource.Button, "prompt", new SensorReadings(null, null, null, null), DateTimeOffset.UnixEpoch), text, TimeSpan.Zero, Cancelled: false);

    const string FourPages = "In the beginning God created the heaven and the earth. And the earth was without form, and void.";

    [Fact]
    public async Task A_single_page_text_after_a_paged_one_stops_the_paging_and_later_writes_and_shutdown_do_not_throw()
    {
        var backpack = new SimulatedCharacterLcd();
        using var lcd = new Lcd1602(LcdInterface.CreateI2c(backpack, uses8Bit: false));
        var sink = new LcdSink(lcd, TimeSpan.FromMilliseconds(20), TimeProvider.System, NullLogger<LcdSink>.Instance);

        await sink.WriteAsync(Outcome(FourPages), CancellationToken.None);
        await Task.Delay(60, TestContext.Current.CancellationToken);
        await sink.WriteAsync(Outcome("Short."), CancellationToken.None);
        await Task.Delay(100, TestContext.Current.CancellationToken); // several page times: a paging loop still running would have covered it
        Assert.Equal("Short.          ", backpack.ReadLines()[0]);

        await sink.WriteAsync(Outcome("Again."), CancellationToken.None);
        await sink.WriteAsync(Outcome(FourPages), CancellationToken.None);
        sink.Dispose();
        sink.Dispose();
        Assert.Equal("In the beginning", backpack.ReadLines()[0]);
    }

    [Fact]
    public async Task An_empty_text_is_announced_on_the_lcd_and_in_the_log()
    {
        var backpack = new SimulatedCharacterLcd();
        using var lcd = new Lcd1602(LcdInterface.CreateI2c(backpack, uses8Bit: false));
        using var sink = new LcdSink(lcd, TimeSpan.FromSeconds(3), TimeProvider.System, NullLogger<LcdSink>.Instance);
        var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var log = new LogSink(factory.CreateLogger<LogSink>());

        await sink.WriteAsync(Outcome(" \n"), CancellationToken.None);
        await log.WriteAsync(Outcome(""), CancellationToken.None);

        Assert.Equal("(no text: the", backpack.ReadLines()[0].TrimEnd());
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("ended the text at once", StringComparison.Ordinal) && e.Message.Contains("Model:MinTokens", StringComparison.Ordinal));
    }

    [Fact]
    public void The_model_flag_of_edge_is_accepted_as_Model_Path()
    {
        Assert.Equal(["--Model:Path=a.edge", "--Lcd:Enabled=false"], ModelFlag.ToConfiguration(["-m", "a.edge", "--Lcd:Enabled=false"]));
        Assert.Equal(["--Model:Path=b.edge"], ModelFlag.ToConfiguration(["--model", "b.edge"]));
        Assert.Equal(["--Model:Path=c.edge"], ModelFlag.ToConfiguration(["--model=c.edge"]));
        Assert.Contains("needs a model file", Assert.Throws<ArgumentException>(() => ModelFlag.ToConfiguration(["-m"])).Message);
    }
}
