using System.Globalization;
using UnitsNet;

namespace Edge.Devices.Readings;

/// <summary>One environment reading; a value is null when the sensor is absent or did not answer.</summary>
public sealed record SensorReadings(Temperature? Temperature, Pressure? Pressure, RelativeHumidity? Humidity, DateTimeOffset? TakenAt)
{
    public static SensorReadings None { get; } = new(null, null, null, null);

    public string FormatTemperature() => Temperature is { } t ? t.DegreesCelsius.ToString("0.0", CultureInfo.InvariantCulture) + " °C" : "unknown";

    public string FormatPressure() => Pressure is { } p ? p.Hectopascals.ToString("0.0", CultureInfo.InvariantCulture) + " hPa" : "unknown";

    public string FormatHumidity() => Humidity is { } h ? h.Percent.ToString("0", CultureInfo.InvariantCulture) + " %" : "unknown";
}

/// <summary>The most recent reading, shared between the sensor loop and the triggers that quote it.</summary>
public sealed class LatestReadings
{
    SensorReadings _current = SensorReadings.None;

    public SensorReadings Current
    {
        get => Volatile.Read(ref _current);
        set => Volatile.Write(ref _current, value);
    }
}
