using Edge.Runtime.Generation;

namespace Edge.Tests.Generation;

public class StopSequenceMatcherTests
{
    /// <summary>Feeds pieces and returns everything released, piece by piece, plus the final flush.</summary>
    static (List<string> Released, string Flushed) Feed(StopSequenceMatcher matcher, params string[] pieces)
    {
        var released = pieces.Select(matcher.Push).ToList();
        return (released, matcher.Flush());
    }

    [Fact]
    public void MatchesAStopSplitAcrossPiecesWithoutReleasingAnyOfIt()
    {
        var matcher = new StopSequenceMatcher(["\nUser:"]);
        var (released, flushed) = Feed(matcher, "Hello", " there.", "\n", "Us", "er", ": more");
        Assert.Equal(["Hello", " there.", "", "", "", ""], released);
        Assert.True(matcher.IsStopped);
        Assert.Equal("\nUser:", matcher.MatchedStop);
        Assert.Equal("", flushed);
    }

    [Fact]
    public void ReleasesHeldTextOnceItCannotStartAStop()
    {
        var matcher = new StopSequenceMatcher(["\nUser:"]);
        Assert.Equal("a", matcher.Push("a\nUs"));
        Assert.Equal("\nUsage", matcher.Push("age"));
        Assert.False(matcher.IsStopped);
        Assert.Equal("x", matcher.Push("x\n"));
        Assert.Equal("\n", matcher.Flush());
    }

    [Fact]
    public void TextBeforeTheStopInTheSamePieceIsReleased()
    {
        var matcher = new StopSequenceMatcher(["END"]);
        Assert.Equal("abc", matcher.Push("abcENDdef"));
        Assert.True(matcher.IsStopped);
        Assert.Equal("", matcher.Push("more"));
    }

    [Fact]
    public void TheEarliestOfSeveralStopsWins()
    {
        var matcher = new StopSequenceMatcher(["world", "lo w", "o"]);
        Assert.Equal("hel", matcher.Push("hello world"));
        Assert.Equal("lo w", matcher.MatchedStop);
    }

    [Fact]
    public void AtTheSamePositionTheLongerStopWins()
    {
        var matcher = new StopSequenceMatcher(["ab", "abc"]);
        Assert.Equal("x", matcher.Push("xabc"));
        Assert.Equal("abc", matcher.MatchedStop);
    }

    [Fact]
    public void WithoutStopsTextPassesThrough()
    {
        var matcher = new StopSequenceMatcher([]);
        Assert.Equal("any\ntext", matcher.Push("any\ntext"));
        Assert.Equal("", matcher.Flush());
        Assert.False(matcher.IsStopped);
    }

    [Fact]
    public void OverlappingPartialMatchesStillFindTheStop()
    {
        var matcher = new StopSequenceMatcher(["aab"]);
        Assert.Equal("", matcher.Push("a"));
        Assert.Equal("", matcher.Push("a"));
        Assert.Equal("a", matcher.Push("a"));
        Assert.Equal("", matcher.Push("b"));
        Assert.True(matcher.IsStopped);
    }

    [Fact]
    public void EveryCharacterReleasedIsTheInputUpToTheStop()
    {
        var random = new Random(3);
        const string alphabet = "ab\n:U";
        for (int trial = 0; trial < 200; trial++)
        {
            string text = new([.. Enumerable.Range(0, 40).Select(_ => alphabet[random.Next(alphabet.Length)])]);
            string[] stops = ["\nU:", "bab"];
            var matcher = new StopSequenceMatcher(stops);
            var output = new System.Text.StringBuilder();
            for (int i = 0; i < text.Length;)
            {
                int n = Math.Min(random.Next(1, 5), text.Length - i);
                output.Append(matcher.Push(text.Substring(i, n)));
                i += n;
            }
            output.Append(matcher.Flush());
            int cut = stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(text.Length).Min();
            Assert.Equal(text[..cut], output.ToString());
            Assert.Equal(cut < text.Length, matcher.IsStopped);
        }
    }

    [Fact]
    public void AnEmptyStopIsRefusedClearly()
    {
        var e = Assert.Throws<ArgumentException>(() => new StopSequenceMatcher(["ok", ""]));
        Assert.Contains("Stop sequence 2 is empty", e.Message);
    }
}
