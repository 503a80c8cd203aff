using Microsoft.Extensions.Hosting;

namespace Edge.Devices.Simulation;

/// <summary><c>--simulate</c>: draws the simulated 16×2 LCD in the terminal whenever its text changes.</summary>
public sealed class TerminalLcdRenderer(SimulatedCharacterLcd lcd, TextWriter output) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        int shown = lcd.Version;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(200));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                int version = lcd.Version;
                if (version == shown)
                    continue;
                shown = version;
                output.WriteLine(Render(lcd.ReadLines()));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public static string Render(string[] lines)
    {
        string border = new('─', SimulatedCharacterLcd.Columns);
        return $"┌{border}┐ LCD\n" + string.Concat(lines.Select(l => $"│{l}│\n")) + $"└{border}┘";
    }
}
