using System.Buffers;
using System.Text;
using System.Text.Json;
using Edge.Devices.Configuration;
using Edge.Devices.Fleet;
using Edge.Devices.Readings;
using Edge.Devices.Sinks;
using Edge.Devices.Triggers;
using UnitsNet;

namespace Edge.Devices.Tests;

public class PromptAndLayoutTests
{
    [Fact]
    public void A_trigger_prompt_carries_the_readings_with_units()
    {
        var readings = new SensorReadings(Temperature.FromDegreesCelsius(21.44), Pressure.FromHectopascals(1006.53), RelativeHumidity.FromPercent(56.07), null);

        var trigger = Trigger.FromTemplate(TriggerSource.TemperatureHigh, "Above {threshold}: {temperature}, {humidity}, {pressure}; {nothing}", readings, DateTimeOffset.UnixEpoch, thresholdCelsius: 21);

        Assert.Equal("Above 21.0 °C: 21.4 °C, 56 %, 1006.5 hPa; unknown", trigger.Prompt);
    }

    [Fact]
    public void Configuration_validation_names_an_unknown_placeholder()
    {
        var options = new SensorDaemonOptions { Model = { Path = "m" }, Prompts = { Motion = "Hi {temprature}" } };

        var error = Assert.Single(options.Validate());

        Assert.Contains("{temprature}", error);
        Assert.Contains("{temperature}", error);
    }

    [Fact]
    public void Default_configuration_is_valid()
    {
        Assert.Empty(new SensorDaemonOptions { Model = { Path = "m" } }.Validate());
    }

    [Fact]
    public void Lcd_text_is_word_wrapped_to_sixteen_columns()
    {
        var lines = LcdSink.Wrap("The kitchen is getting warm: open a window please, supercalifragilistic!", 16);

        Assert.Equal(["The kitchen is", "getting warm:", "open a window", "please,", "supercalifragili", "stic!"], lines);
    }

    [Fact]
    public void Result_json_has_the_text_and_the_readings()
    {
        var readings = new SensorReadings(Temperature.FromDegreesCelsius(25.08), null, RelativeHumidity.FromPercent(56.07), null);

        var json = FleetMessages.WriteResult("r1", "pi-1", "Motion", "Hello \"there\"", readings, DateTimeOffset.UnixEpoch, TimeSpan.FromMilliseconds(1234));

        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal("Hello \"there\"", root.GetProperty("text").GetString());
        Assert.Equal(25.08, root.GetProperty("readings").GetProperty("temperatureCelsius").GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("readings").GetProperty("pressureHectopascals").ValueKind);
        Assert.Equal(new FleetReply("r1", "pi-1", "Hello \"there\""), FleetMessages.ParseReply(new ReadOnlySequence<byte>(json)));
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[1]", "not a JSON object")]
    [InlineData("{\"prompt\":\"p\"}", "\"id\"")]
    [InlineData("{\"id\":\"1\"}", "\"prompt\"")]
    [InlineData("{\"id\":\"1\",\"prompt\":\"p\",\"maxTokens\":0}", "maxTokens")]
    public void Malformed_requests_are_rejected_with_a_reason(string payload, string reason)
    {
        var request = FleetMessages.ParseRequest(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(payload)), "replies", null, out var error);

        Assert.Null(request);
        Assert.Contains(reason, error);
    }
}
