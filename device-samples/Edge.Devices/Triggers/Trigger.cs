using System.Globalization;
using Edge.Devices.Readings;

namespace Edge.Devices.Triggers;

public enum TriggerSource
{
    Button,
    Motion,
    TemperatureHigh,
    TemperatureLow,
    TemperatureRate,
    Mqtt,
}

/// <summary>
/// Something that asks for a generation: a local sensor event, or a fleet request received over MQTT (which also
/// carries how to acknowledge it once its result is out).
/// </summary>
public sealed record Trigger(TriggerSource Source, string Prompt, SensorReadings Readings, DateTimeOffset At)
{
    /// <summary>The fleet request behind an MQTT trigger; null for local triggers.</summary>
    public Fleet.FleetRequest? Request { get; init; }

    /// <summary>Builds a local trigger's prompt from its template and the readings.</summary>
    public static Trigger FromTemplate(TriggerSource source, string template, SensorReadings readings, DateTimeOffset at, double? thresholdCelsius = null, double? rateCelsiusPerMinute = null)
    {
        var values = new Dictionary<string, string>
        {
            ["time"] = at.ToLocalTime().ToString("HH:mm", CultureInfo.InvariantCulture),
            ["temperature"] = readings.FormatTemperature(),
            ["humidity"] = readings.FormatHumidity(),
            ["pressure"] = readings.FormatPressure(),
            ["source"] = source.ToString(),
        };
        if (thresholdCelsius is double threshold)
            values["threshold"] = threshold.ToString("0.0", CultureInfo.InvariantCulture) + " °C";
        if (rateCelsiusPerMinute is double rate)
            values["rate"] = rate.ToString("+0.0;-0.0", CultureInfo.InvariantCulture) + " °C/min";
        return new Trigger(source, PromptTemplate.Fill(template, values), readings, at);
    }
}
