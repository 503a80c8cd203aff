using Edge.Runtime.Diagnostics;

namespace Edge.Tests.Diagnostics;

public sealed class ReadBandwidthTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Measures_a_positive_rate_with_any_thread_count(int threads) =>
        Assert.True(ReadBandwidth.Measure(threads, bufferBytes: 4 << 20, sweeps: 1) > 0);

    [Fact]
    public void A_buffer_smaller_than_a_page_per_thread_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ReadBandwidth.Measure(threads: 4, bufferBytes: 8192));

    [Fact]
    public void Zero_threads_are_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ReadBandwidth.Measure(threads: 0, bufferBytes: 1 << 20));
}
