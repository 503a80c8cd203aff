namespace Edge.Runtime.Model;

/// <summary>
/// Everything a sequence carries from one token to the next: one hidden vector per layer. Its size is fixed
/// (L·H floats), whatever the context length; there is no KV cache.
/// </summary>
public sealed class RecurrentState
{
    public RecurrentState(int layers, int hidden)
    {
        Hidden = new float[layers][];
        for (int l = 0; l < layers; l++)
            Hidden[l] = new float[hidden];
    }

    /// <summary>h per layer, (L, H), kept in fp32 between calls.</summary>
    public float[][] Hidden { get; }

    /// <summary>Tokens consumed so far.</summary>
    public int Position { get; internal set; }

    public long Bytes => (long)Hidden.Length * Hidden[0].Length * sizeof(float);

    public void Reset()
    {
        foreach (var h in Hidden)
            Array.Clear(h);
        Position = 0;
    }

    /// <summary>Copies another state of the same shape into this one (to fork or restore a sequence).</summary>
    public void CopyFrom(RecurrentState other)
    {
        if (other.Hidden.Length != Hidden.Length || other.Hidden[0].Length != Hidden[0].Length)
            throw new ArgumentException("The states belong to models of different shapes.", nameof(other));
        for (int l = 0; l < Hidden.Length; l++)
            other.Hidden[l].CopyTo(Hidden[l], 0);
        Position = other.Position;
    }
}
