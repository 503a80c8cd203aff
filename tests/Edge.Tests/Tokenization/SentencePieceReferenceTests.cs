using Edge.Format.Container;
using Edge.Runtime.Tokenization;

namespace Edge.Tests.Tokenization;

/// <summary>EdgeTokenizer against Debian's spm_encode on the fixture model (Fixtures/tokenizer/README.md).</summary>
public class SentencePieceReferenceTests
{
    static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "tokenizer");

    static EdgeTokenizer Tokenizer() => new(File.ReadAllBytes(Path.Combine(Folder, "tokenizer.model")), new TokenizerInfo());

    public static TheoryData<int> LineNumbers() => [.. Enumerable.Range(0, ReferenceLines().Length)];

    static string[] ReferenceLines() => File.ReadAllText(Path.Combine(Folder, "reference.txt")).TrimEnd('\n').Split('\n');

    static int[][] ReferenceIds() => File.ReadAllText(Path.Combine(Folder, "reference.ids")).TrimEnd('\n').Split('\n')
        .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray()).ToArray();

    [Fact]
    public void FixtureHasOneIdLinePerTextLine()
    {
        Assert.Equal(40, ReferenceLines().Length);
        Assert.Equal(ReferenceLines().Length, ReferenceIds().Length);
        Assert.Equal(600, Tokenizer().VocabularySize);
    }

    [Theory]
    [MemberData(nameof(LineNumbers))]
    public void EncodesExactlyLikeSentencePieceAndDecodesBack(int line)
    {
        var tokenizer = Tokenizer();
        string text = ReferenceLines()[line];
        int[] ids = tokenizer.Encode(text, addBos: false);
        Assert.Equal(ReferenceIds()[line], ids);
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void EncodePrependsBos()
    {
        var tokenizer = Tokenizer();
        string text = ReferenceLines()[1];
        Assert.Equal([1, .. ReferenceIds()[1]], tokenizer.Encode(text));
    }
}
