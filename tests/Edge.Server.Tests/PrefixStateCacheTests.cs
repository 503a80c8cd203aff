using Edge.Runtime.Model;
using Edge.Server.Scheduling;

namespace Edge.Server.Tests;

public sealed class PrefixStateCacheTests
{
    const int Layers = 2, Hidden = 4;
    const long StateBytes = Layers * Hidden * sizeof(float);

    // A state that has consumed `tokens`, its floats derived from them so that restores can be told apart.
    static RecurrentState StateAfter(int[] tokens)
    {
        var state = new RecurrentState(Layers, Hidden);
        for (int l = 0; l < Layers; l++)
            for (int i = 0; i < Hidden; i++)
                state.Hidden[l][i] = tokens.Sum() * 10 + l * Hidden + i;
        state.Position = tokens.Length;
        return state;
    }

    static float Mark(RecurrentState state) => state.Hidden[0][0];

    [Fact]
    public void TheLongestCachedPrefixThatLeavesATokenToRunIsRestored()
    {
        var cache = new PrefixStateCache(1 << 20);
        cache.Store([1, 2], StateAfter([1, 2]));
        cache.Store([1, 2, 3], StateAfter([1, 2, 3]));
        cache.Store([1, 2, 3, 4], StateAfter([1, 2, 3, 4]));
        var into = new RecurrentState(Layers, Hidden);

        Assert.Equal(3, cache.Restore([1, 2, 3, 4], into));
        Assert.Equal(Mark(StateAfter([1, 2, 3])), Mark(into));
        Assert.Equal(3, into.Position);
        Assert.Equal(0, cache.Restore([2, 2, 3], into));
    }

    [Fact]
    public void TheBoundEvictsTheLeastRecentlyUsedAndEvictedStatesHoldTheNextPrefix()
    {
        long entryBytes = StateBytes + 2 * sizeof(int);
        var cache = new PrefixStateCache(3 * entryBytes);
        int[][] prefixes = [[1, 1], [2, 2], [3, 3]];
        foreach (var p in prefixes)
            cache.Store(p, StateAfter(p));
        var into = new RecurrentState(Layers, Hidden);
        Assert.Equal(2, cache.Restore([1, 1, 9], into)); // [1, 1] is now the most recently used

        for (int round = 4; round < 40; round++)
        {
            int[] next = [round, round];
            cache.Store(next, StateAfter(next));
            Assert.Equal(3, cache.Count);
            Assert.True(cache.Bytes <= cache.MaxBytes, $"{cache.Bytes} bytes held, {cache.MaxBytes} allowed");
            Assert.Equal(2, cache.Restore([round, round, 0], into));
            Assert.Equal(Mark(StateAfter(next)), Mark(into));
        }
        Assert.Equal(0, cache.Restore([2, 2, 0], into));
        Assert.Equal(2, cache.Restore([39, 39, 0], into));
    }

    [Fact]
    public void AReusedEntryTakesALongerPrefixAndStaysWithinTheBound()
    {
        var cache = new PrefixStateCache(2 * (StateBytes + 8 * sizeof(int)));
        var into = new RecurrentState(Layers, Hidden);
        for (int length = 1; length <= 20; length++)
        {
            int[] prefix = [.. Enumerable.Range(100 * length, length)];
            cache.Store(prefix, StateAfter(prefix));
            Assert.True(cache.Bytes <= cache.MaxBytes, $"{cache.Bytes} bytes held at length {length}, {cache.MaxBytes} allowed");
            int[] prompt = [.. prefix, 7];
            if (StateBytes + length * sizeof(int) <= cache.MaxBytes)
            {
                Assert.Equal(length, cache.Restore(prompt, into));
                Assert.Equal(Mark(StateAfter(prefix)), Mark(into));
            }
            else
                Assert.Equal(0, cache.Restore(prompt, into));
        }
    }

    [Fact]
    public void StoringAPrefixAgainKeepsOneEntry()
    {
        var cache = new PrefixStateCache(1 << 20);
        cache.Store([5, 6], StateAfter([5, 6]));
        long bytes = cache.Bytes;
        cache.Store([5, 6], StateAfter([5, 6]));
        Assert.Equal(1, cache.Count);
        Assert.Equal(bytes, cache.Bytes);
        Assert.Throws<ArgumentException>(() => cache.Store([5, 6, 7], StateAfter([5, 6])));
    }
}
