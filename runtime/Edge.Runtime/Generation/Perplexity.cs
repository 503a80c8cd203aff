using Edge.Runtime.Model;
using Edge.Runtime.Tokenization;

namespace Edge.Runtime.Generation;

/// <summary>Perplexity of a token stream: exp of the mean negative log-likelihood of every token after the first.</summary>
public static class Perplexity
{
    public readonly record struct Result(double Perplexity, int Tokens, double NegativeLogLikelihood);

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
    public static Result Evaluate(HgrnBitModel model, int[] tokens, CancellationToken cancellationToken = default)
    {
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
