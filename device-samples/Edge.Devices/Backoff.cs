namespace Edge.Devices;

/// <summary>Exponential back-off for retrying a sensor or a broker: 1 s, 2 s, 4 s … capped.</summary>
public static class Backoff
{
    public static TimeSpan Delay(int failures, TimeSpan max)
    {
        if (failures <= 0)
            return TimeSpan.Zero;
        double seconds = Math.Pow(2, Math.Min(failures - 1, 30));
        return TimeSpan.FromSeconds(Math.Min(seconds, max.TotalSeconds));
    }
}
