using Edge.Runtime.Tokenization;

namespace Edge.Runtime.Generation;

/// <summary>Perplexity of a token stream: exp of the mean negative log-likelihood of every token after the first.</summary>
public static class Perplexity
{
    /// <summary>A perplexity over <paramref name="Tokens"/> scored tokens.</summary>
    /// <param name="Perplexity">exp(<paramref name="NegativeLogLikelihood"/> / <paramref name="Tokens"/>).</param>
    /// <param name="Tokens">How many tokens were scored (all but the first).</param>
    /// <param name="NegativeLogLikelihood">The summed negative natural-log likelihood of the scored tokens.</param>
    public readonly record struct Result(double Perplexity, int Tokens, double NegativeLogLikelihood);

    /// <summary>The longest line <see cref="ReadLines"/> accepts, in characters: far beyond prose, far below memory.</summary>
    public const int MaxLineChars = 1 << 20;

    /// <summary>
    /// The lines of a text file, each at most <paramref name="maxLineChars"/> long: a file with no line breaks
    /// (<c>/dev/zero</c>, a binary) is refused once one line passes it, instead of growing one string until memory runs out.
    /// </summary>
    public static IEnumerable<string> ReadLines(string path, int maxLineChars = MaxLineChars)
    {
        using var reader = new StreamReader(path, detectEncodingFromByteOrderMarks: true);
        var line = new System.Text.StringBuilder();
        var buffer = new char[8192];
        int lineNumber = 1, n;
        while ((n = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            int start = 0;
            for (int i = 0; i < n; i++)
            {
                if (buffer[i] != '\n')
                    continue;
                line.Append(buffer, start, i - start);
                yield return TrimCarriageReturn(line);
                line.Clear();
                lineNumber++;
                start = i + 1;
            }
            line.Append(buffer, start, n - start);
            if (line.Length > maxLineChars)
                throw new InvalidDataException($"Line {lineNumber} of {path} is longer than {maxLineChars} characters; is it a text file? Give a text with line breaks.");
        }
        if (line.Length > 0)
            yield return TrimCarriageReturn(line);
    }

    static string TrimCarriageReturn(System.Text.StringBuilder line) =>
        line.Length > 0 && line[^1] == '\r' ? line.ToString(0, line.Length - 1) : line.ToString();

    /// <summary>Every non-empty line as BOS + its tokens, concatenated in order, cut to <paramref name="maxTokens"/>.</summary>
    public static int[] Tokenize(EdgeTokenizer tokenizer, IEnumerable<string> lines, int? maxTokens)
    {
        var stream = new List<int>();
        foreach (string line in lines)
        {
            if (line.Length == 0)
                continue;
            stream.AddRange(tokenizer.Encode(line));
            if (maxTokens is int max && stream.Count >= max)
                return [.. stream.Take(max)];
        }
        return [.. stream];
    }

    /// <summary>Runs the whole stream with one recurrent state and scores tokens 1..n-1.</summary>
    public static Result Evaluate(EdgeModel edgeModel, int[] tokens, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens.Length, 2);
        using var lease = edgeModel.EnterGeneration();
        var model = edgeModel.Model;
        var state = model.CreateState();
        var scratch = new float[model.Config.VocabSize];
        double nll = 0;
        model.ForwardAll(tokens.AsSpan(0, tokens.Length - 1), state, scratch, (position, logits) =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            nll -= LogSoftmaxAt(logits, tokens[position + 1]);
        });
        int scored = tokens.Length - 1;
        return new Result(Math.Exp(nll / scored), scored, nll);
    }

    static double LogSoftmaxAt(ReadOnlySpan<float> logits, int index)
    {
        double max = double.NegativeInfinity;
        foreach (float v in logits)
            max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in logits)
            sum += Math.Exp(v - max);
        return logits[index] - max - Math.Log(sum);
    }
}
