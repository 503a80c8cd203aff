using Edge.Format.Container;
using Edge.Packer;
using Edge.Runtime.Tokenization;

namespace Edge.Tests.Tokenization;

/// <summary>
/// Found by AFL (eng/afl-fuzz.sh, target tokenizer): the SentencePiece loader's error quoted the normalizer name from
/// the file, line breaks included, so the refusal was several lines. A refusal is one short line whatever the file holds.
/// </summary>
public class TokenizerRefusalTests
{
    /// <summary>The placeholder tokenizer with a normalizer_spec (field 3) whose name (field 1) is <paramref name="name"/>.</summary>
    static byte[] WithNormalizerName(string name)
    {
        byte[] text = System.Text.Encoding.UTF8.GetBytes(name);
        var spec = new List<byte> { 0x0A };
        spec.AddRange(Varint(text.Length));
        spec.AddRange(text);
        var bytes = new List<byte>(SyntheticModel.PlaceholderTokenizer().Bytes) { 0x1A };
        bytes.AddRange(Varint(spec.Count));
        bytes.AddRange(spec);
        return [.. bytes];

        static IEnumerable<byte> Varint(int value)
        {
            for (; value >= 0x80; value >>= 7)
                yield return (byte)(value | 0x80);
            yield return (byte)value;
        }
    }

    [Theory]
    [InlineData("bad\nname\r\twith\u001b[31m escapes")]
    [InlineData(null)]
    public void ALoaderErrorQuotingTheFileIsOneShortLine(string? name)
    {
        var e = Assert.Throws<InvalidDataException>(() => new EdgeTokenizer(WithNormalizerName(name ?? new string('x', 5000)), new TokenizerInfo()));
        Assert.DoesNotContain(e.Message, char.IsControl);
        Assert.InRange(e.Message.Length, 1, 600);
        Assert.Contains("re-pack the model with a valid tokenizer.model", e.Message, StringComparison.Ordinal);
    }
}
