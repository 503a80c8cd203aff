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
        StopPaging();
        var lines = Wrap(outcome.NoText ? GenerationOutcome.NoTextNotice : outcome.Text.Trim(), lcd.Size.Width);
        var pages = lines.Chunk(lcd.Size.Height).ToList();
        if (pages.Count == 0)
            pages.Add([""]);
        Show(pages[0], CancellationToken.None);
        if (pages.Count > 1)
        {
            var paging = new CancellationTokenSource();
            _paging = paging;
            _ = TurnPagesAsync(pages, paging.Token);
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Ends the previous text's paging. The field is cleared with the dispose: a single-page text starts no paging,
    /// and the next write or the shutdown must not cancel the disposed source again.
    /// </summary>
    void StopPaging()
    {
        var paging = Interlocked.Exchange(ref _paging, null);
        if (paging is null)
            return;
        paging.Cancel();
        paging.Dispose();
    }

    async Task TurnPagesAsync(List<string[]> pages, CancellationToken cancellationToken)
    {
        try
        {
            for (int page = 1; ; page = (page + 1) % pages.Count)
            {
                await Task.Delay(pageTime, time, cancellationToken).ConfigureAwait(false);
                Show(pages[page], cancellationToken);
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

    /// <param name="paging">Cancelled once a newer text is shown: a page turn that woke just before must not cover it.</param>
    void Show(string[] page, CancellationToken paging)
    {
        lock (_display)
        {
            if (paging.IsCancellationRequested)
                return;
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

    public void Dispose() => StopPaging();

    [LoggerMessage(Level = LogLevel.Warning, Message = "The LCD stopped answering while paging: {Message}")]
    partial void LogLcdFailed(string message);
}
