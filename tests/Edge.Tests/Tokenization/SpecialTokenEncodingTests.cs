using Edge.Runtime;
using Edge.Tests.Shared;

namespace Edge.Tests.Tokenization;

public class SpecialTokenEncodingTests
{
    [Fact]
    public void ControlPieceTextBecomesItsIdOnlyWhenAsked()
    {
        using var model = EdgeModel.Load(RepositoryFile.BundledModel());
        var tokenizer = model.Tokenizer;
        Assert.Equal("</s>", tokenizer.TokenText(tokenizer.EosId));
        int[] parsed = tokenizer.Encode("Amen.</s>And", addBos: false, parseSpecialTokens: true);
        Assert.Contains(tokenizer.EosId, parsed);
        Assert.Equal((int[])[.. tokenizer.Encode("Amen.", addBos: false), tokenizer.EosId, .. tokenizer.Encode("And", addBos: false)], parsed);
        Assert.DoesNotContain(tokenizer.EosId, tokenizer.Encode("Amen.</s>And", addBos: false));
    }

    [Fact]
    public void AContinuationReadsAsItWouldInsideOneText()
    {
        using var model = EdgeModel.Load(RepositoryFile.BundledModel());
        var tokenizer = model.Tokenizer;
        int[] whole = tokenizer.Encode("And God said.\nUser: Who?");
        int[] head = tokenizer.Encode("And God said.");
        Assert.Equal(whole, (int[])[.. head, .. tokenizer.EncodeContinuation("\nUser: Who?")]);
        int[] spaced = tokenizer.Encode("And God said");
        Assert.Equal(tokenizer.Encode("And God said unto"), (int[])[.. spaced, .. tokenizer.EncodeContinuation(" unto")]);
        Assert.Empty(tokenizer.EncodeContinuation(""));
    }
}
