using System.Text;
using Iot.Device.CharacterLcd;
using Microsoft.Extensions.Logging;

namespace Edge.Devices.Sinks;

/// <summary>
/// Shows generated text on a 16×2 character LCD, word-wrapped, two lines per page, turning pages every
/// <c>Lcd:PageMilliseconds</c> until the next text arrives. Characters the HD44780 ROM lacks become '?'; ° uses
/// the ROM's own degree sign.
/// </summary>
public sealed partial class LcdSink(ICharacterLcd lcd, TimeSpan pageTime, TimeProvider time, ILogger<LcdSink> logger) : IGenerationSink, IDisposable
{
    readonly Lock _display = new();
    CancellationTokenSource? _paging;

    public string Name => "lcd";

    public Task WriteAsync(GenerationOutcome outcome, CancellationToken cancellationToken)
    {
        _paging?.Cancel();
        _paging?.Dispose();
        var lines = Wrap(outcome.Text.Trim(), lcd.Size.Width);
        var pages = lines.Chunk(lcd.Size.Height).ToList();
        if (pages.Count == 0)
            pages.Add([""]);
        Show(pages[0]);
        if (pages.Count > 1)
        {
            _paging = new CancellationTokenSource();
            _ = TurnPagesAsync(pages, _paging.Token);
        }
        return Task.CompletedTask;
    }

    async Task TurnPagesAsync(List<string[]> pages, CancellationToken cancellationToken)
    {
        try
        {
            for (int page = 1; ; page = (page + 1) % pages.Count)
            {
                await Task.Delay(pageTime, time, cancellationToken).ConfigureAwait(false);
                Show(pages[page]);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException e)
        {
            LogLcdFailed(e.Message);
        }
    }

    void Show(string[] page)
    {
        lock (_display)
        {
            lcd.Clear();
            for (int row = 0; row < page.Length; row++)
            {
                lcd.SetCursorPosition(0, row);
                lcd.Write(ToLcdCharacters(page[row]));
            }
        }
    }

    /// <summary>Word-wraps to the display width; words longer than a line are split.</summary>
    public static List<string> Wrap(string text, int width)
    {
        var lines = new List<string>();
        var line = new StringBuilder();
        foreach (var word in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var rest = word.AsSpan();
            while (rest.Length > 0)
            {
                int room = width - line.Length - (line.Length > 0 ? 1 : 0);
                if (rest.Length <= room)
                {
                    if (line.Length > 0)
                        line.Append(' ');
                    line.Append(rest);
                    rest = default;
                }
                else if (line.Length > 0)
                {
                    lines.Add(line.ToString());
                    line.Clear();
                }
                else
                {
                    lines.Add(rest[..width].ToString());
                    rest = rest[width..];
                }
            }
        }
        if (line.Length > 0)
            lines.Add(line.ToString());
        return lines;
    }

    static string ToLcdCharacters(string text) =>
        string.Create(text.Length, text, static (span, source) =>
        {
            for (int i = 0; i < source.Length; i++)
                span[i] = source[i] switch { '°' => (char)0xDF, >= ' ' and <= '}' => source[i], _ => '?' };
        });

    public void Dispose()
    {
        _paging?.Cancel();
        _paging?.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The LCD stopped answering while paging: {Message}")]
    partial void LogLcdFailed(string message);
}
