using Edge.Devices.Configuration;
using Edge.Devices.Triggers;

namespace Edge.Devices.Tests;

public class TemperatureWatchTests
{
    static readonly DateTimeOffset Start = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    static TemperatureWatch Watch(double? high = 28, double? low = 16, double? rate = null) =>
        new(new Bme280Settings { HighCelsius = high, LowCelsius = low, HysteresisCelsius = 0.5, RateCelsiusPerMinute = rate, RateWindowSeconds = 60 });

    static List<TemperatureEvent> Feed(TemperatureWatch watch, params double[] samples)
    {
        var events = new List<TemperatureEvent>();
        for (int i = 0; i < samples.Length; i++)
            events.AddRange(watch.Observe(Start.AddSeconds(2 * i), samples[i]));
        return events;
    }

    [Fact]
    public void A_value_hovering_at_the_threshold_fires_once()
    {
        var events = Feed(Watch(), 27.0, 28.0, 27.9, 28.1, 27.6, 28.3, 28.0, 29.0);

        var e = Assert.Single(events);
        Assert.Equal(TriggerSource.TemperatureHigh, e.Source);
        Assert.Equal(28, e.ThresholdCelsius);
    }

    [Fact]
    public void The_threshold_fires_again_after_falling_back_past_the_hysteresis()
    {
        var events = Feed(Watch(), 27.0, 28.2, 27.5, 28.2);

        Assert.Equal(2, events.Count(e => e.Source == TriggerSource.TemperatureHigh));
    }

    [Fact]
    public void Starting_above_the_threshold_is_not_a_crossing()
    {
        Assert.Empty(Feed(Watch(), 30.0, 30.5, 29.0));
    }

    [Fact]
    public void The_low_threshold_fires_once_on_the_way_down()
    {
        var events = Feed(Watch(), 17.0, 16.0, 16.2, 15.8, 15.0);

        Assert.Equal([TriggerSource.TemperatureLow], events.Select(e => e.Source));
    }

    [Fact]
    public void A_fast_change_fires_the_rate_rule_once_until_it_calms_down()
    {
        var watch = Watch(high: null, low: null, rate: 2);
        var events = new List<TemperatureEvent>();
        // +3 °C within a minute, then steady for two minutes, then another fast rise.
        double[] samples = [20.0, 21.0, 22.0, 23.0, 23.0, 23.0, 23.0, 23.0, 26.0];
        int[] seconds = [0, 20, 40, 60, 80, 100, 150, 200, 220];
        for (int i = 0; i < samples.Length; i++)
            events.AddRange(watch.Observe(Start.AddSeconds(seconds[i]), samples[i]));

        Assert.Equal(2, events.Count);
        Assert.All(events, e => Assert.Equal(TriggerSource.TemperatureRate, e.Source));
        Assert.True(events[0].RateCelsiusPerMinute >= 2);
    }
}
