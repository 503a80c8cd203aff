using Edge.Devices.Configuration;

namespace Edge.Devices.Triggers;

/// <summary>A temperature event: which rule fired, and the threshold or rate that made it fire.</summary>
public readonly record struct TemperatureEvent(TriggerSource Source, double? ThresholdCelsius, double? RateCelsiusPerMinute);

/// <summary>
/// Turns a stream of temperature samples into crossing events with hysteresis: a threshold fires once when it is
/// crossed and re-arms only after the temperature has moved back past it by <see cref="Bme280Settings.HysteresisCelsius"/>,
/// so a value hovering at the threshold fires once, not on every sample. The first sample only sets the state
/// (starting up warm is not a crossing). The rate rule fires when the change over the window reaches the limit and
/// re-arms once the rate falls below half of it.
/// </summary>
public sealed class TemperatureWatch(Bme280Settings settings)
{
    readonly Queue<(DateTimeOffset At, double Celsius)> _window = new();
    bool _started, _aboveHigh, _belowLow, _rateArmed = true;

    public List<TemperatureEvent> Observe(DateTimeOffset at, double celsius)
    {
        var events = new List<TemperatureEvent>();
        double hysteresis = settings.HysteresisCelsius;
        if (settings.HighCelsius is double high)
        {
            if (!_started)
                _aboveHigh = celsius >= high;
            else if (!_aboveHigh && celsius >= high)
            {
                _aboveHigh = true;
                events.Add(new(TriggerSource.TemperatureHigh, high, null));
            }
            else if (_aboveHigh && celsius <= high - hysteresis)
                _aboveHigh = false;
        }
        if (settings.LowCelsius is double low)
        {
            if (!_started)
                _belowLow = celsius <= low;
            else if (!_belowLow && celsius <= low)
            {
                _belowLow = true;
                events.Add(new(TriggerSource.TemperatureLow, low, null));
            }
            else if (_belowLow && celsius >= low + hysteresis)
                _belowLow = false;
        }
        if (settings.RateCelsiusPerMinute is double limit && RateOverWindow(at, celsius) is double rate)
        {
            if (_rateArmed && Math.Abs(rate) >= limit)
            {
                _rateArmed = false;
                events.Add(new(TriggerSource.TemperatureRate, null, rate));
            }
            else if (!_rateArmed && Math.Abs(rate) < limit / 2)
                _rateArmed = true;
        }
        _started = true;
        return events;
    }

    /// <summary>°C per minute between the oldest sample still in the window and this one; null until there is history.</summary>
    double? RateOverWindow(DateTimeOffset at, double celsius)
    {
        var window = TimeSpan.FromSeconds(settings.RateWindowSeconds);
        _window.Enqueue((at, celsius));
        while (_window.Count > 1 && at - _window.Peek().At > window)
            _window.Dequeue();
        var (oldestAt, oldestCelsius) = _window.Peek();
        double minutes = (at - oldestAt).TotalMinutes;
        return minutes > 0 ? (celsius - oldestCelsius) / minutes : null;
    }
}
