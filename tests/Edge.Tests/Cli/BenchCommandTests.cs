using System.Text.Json;
using Edge.Runtime.Diagnostics;
using Edge.Runtime.Generation;
using Edge.Tests.Helpers;

namespace Edge.Tests.Cli;

public sealed class BenchCommandTests() : TinyModelTests(temp => TestModels.WriteSynthetic(temp.File("tiny.edge"), seed: 7))
{
    /// <summary>Small sizes everywhere (the test checks what is reported, not how fast); a flag in extra replaces the default.</summary>
    string[] Args(params string[] extra)
    {
        var args = new List<string> { "bench", "-m", _model };
        string[][] small = [["-p", "5"], ["-n", "3"], ["-r", "1"], ["--bandwidth-mib", "8"]];
        foreach (var pair in small)
            if (!extra.Contains(pair[0]))
                args.AddRange(pair);
        args.AddRange(extra);
        return [.. args];
    }

    [Fact]
    public async Task Json_has_one_object_per_thread_count_with_the_documented_fields()
    {
        var (code, output, error) = await CliRun.InvokeAsync(Args("-t", "1,2", "--output", "json"));

        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        var runs = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal([1, 2], runs.Select(r => r.GetProperty("threads").GetInt32()));
        long modelBytes = new FileInfo(_model).Length;
        var c = TestModels.TinyShape.ToConfig();
        long ternaryBytes = 64L * (c.VocabSize + c.NumHiddenLayers * (4 * c.HiddenSize + 2 * c.IntermediateSize))
            + c.NumHiddenLayers * c.HiddenSize * 256L / 4; // down_proj rows: K = 96 padded to 256
        foreach (var run in runs)
        {
            Assert.False(string.IsNullOrEmpty(run.GetProperty("kernel").GetString()));
            foreach (string positive in new[] { "prefill_tps", "decode_tps", "decode_ms_per_token", "decode_ms_per_token_p10", "load_ms", "read_bandwidth_gbps", "roofline_decode_tps", "products_only_tps" })
                Assert.True(run.GetProperty(positive).GetDouble() > 0, positive);
            Assert.Equal(modelBytes, run.GetProperty("mapped_bytes").GetInt64());
            Assert.True(run.GetProperty("mmap").GetBoolean());
            Assert.Equal(ternaryBytes + 2 * c.HiddenSize, run.GetProperty("decode_bytes_per_token").GetInt64());
            var peak = run.GetProperty("peak_rss_bytes");
            var huge = run.GetProperty("huge_pages_bytes");
            if (OperatingSystem.IsLinux())
            {
                Assert.True(peak.GetInt64() > 0);
                Assert.InRange(huge.GetInt64(), 0, peak.GetInt64());
            }
            else
            {
                Assert.Equal(JsonValueKind.Null, peak.ValueKind);
                Assert.Equal(JsonValueKind.Null, huge.ValueKind);
            }
            var cache = run.GetProperty("last_level_cache_bytes");
            if (CpuCaches.LastLevelBytes is long cacheBytes)
                Assert.Equal(cacheBytes, cache.GetInt64());
            else
                Assert.Equal(JsonValueKind.Null, cache.ValueKind);
            double roofline = run.GetProperty("roofline_decode_tps").GetDouble();
            double fraction = run.GetProperty("decode_tps").GetDouble() / roofline;
            Assert.InRange(run.GetProperty("roofline_fraction").GetDouble(), fraction * 0.99, fraction * 1.01);
        }
    }

    [Fact]
    public async Task No_mmap_reads_the_model_into_memory_and_reports_nothing_mapped()
    {
        var (code, output, error) = await CliRun.InvokeAsync(Args("-t", "1", "--output", "json", "--no-mmap"));

        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        var run = doc.RootElement.EnumerateArray().Single();
        Assert.Equal(0, run.GetProperty("mapped_bytes").GetInt64());
        Assert.False(run.GetProperty("mmap").GetBoolean());
        Assert.True(run.GetProperty("decode_tps").GetDouble() > 0);
    }

    [Fact]
    public async Task Markdown_prints_a_table_row_per_thread_count()
    {
        var (code, output, error) = await CliRun.InvokeAsync(Args("-t", "2,1"));

        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        int header = Array.FindIndex(lines, l => l.StartsWith("| threads | kernel |", StringComparison.Ordinal));
        Assert.True(header >= 0, output);
        Assert.Contains("prefill tok/s", lines[header]);
        Assert.Contains("decode tok/s", lines[header]);
        Assert.Contains("of roofline", lines[header]);
        Assert.StartsWith("| 2 |", lines[header + 2]);
        Assert.StartsWith("| 1 |", lines[header + 3]);
    }

    [Fact]
    public async Task Markdown_notes_when_the_bandwidth_buffer_or_the_weights_fit_in_the_last_level_cache()
    {
        if (CpuCaches.LastLevelBytes is not long cache)
            return; // the system does not say: nothing to compare with
        int cacheMib = (int)(cache >> 20);
        var (code, output, error) = await CliRun.InvokeAsync(Args("-t", "1", "--bandwidth-mib", $"{Math.Max(cacheMib, 1)}"));
        Assert.True(code == 0, error);
        Assert.Contains("bandwidth buffer fits in this CPU's", output);
        Assert.Contains("a token reads fit in this CPU's", output); // the tiny model's few KiB always do

        (code, output, error) = await CliRun.InvokeAsync(Args("-t", "1", "--bandwidth-mib", $"{cacheMib + 8}"));
        Assert.True(code == 0, error);
        Assert.DoesNotContain("bandwidth buffer fits", output);
    }

    [Theory]
    [InlineData(24L << 30, 32L << 20, 1L << 30)] // the build machine: 1 GiB
    [InlineData(128L << 30, 300L << 20, 1200L << 20)] // a 300 MiB L3: four times it
    [InlineData(416L << 20, 512L << 10, 104L << 20)] // Pi Zero 2 W: a quarter of its memory
    [InlineData(920L << 20, 1L << 20, 230L << 20)] // Pi 3
    [InlineData(16L << 30, null, 1L << 30)] // cache size unknown
    [InlineData((1L << 30) + 12345, null, 256L << 20)] // whole MiB
    public void The_default_bandwidth_buffer_exceeds_the_cache_and_fits_the_memory(long memory, long? cache, long expected) =>
        Assert.Equal(expected, Edge.Runtime.Diagnostics.ModelBenchmark.DefaultBandwidthBufferBytes(memory, cache));

    [Theory]
    [InlineData(true, "madvise", 145L << 20, 16L << 20, true)] // mapped, mostly in small pages
    [InlineData(true, "always", 145L << 20, 16L << 20, true)]
    [InlineData(true, "madvise", 145L << 20, 126L << 20, false)] // mostly in huge pages
    [InlineData(false, "madvise", 0L, 0L, false)] // --no-mmap
    [InlineData(true, "never", 145L << 20, 0L, false)] // the kernel would not give huge pages anyway
    [InlineData(true, null, 145L << 20, null, false)] // not Linux
    [InlineData(true, "madvise", 3L << 20, 0L, false)] // too small to hold two huge pages
    public void The_small_pages_note_appears_only_where_huge_pages_were_possible_and_mostly_missing(bool mapped, string? mode, long mappedBytes, long? hugeBytes, bool expected)
    {
        string? note = Edge.Cli.Commands.BenchCommand.SmallPagesNote(mapped, mode, mappedBytes, hugeBytes, 2u << 20);
        Assert.Equal(expected, note is not null);
        if (note is not null)
            Assert.Contains("--no-mmap", note);
    }

    [Theory]
    [InlineData("--threads 0 is out of range", "-t", "0")]
    [InlineData("--threads takes whole numbers", "-t", "1,x")]
    [InlineData("--n-prompt must be at least 1", "-p", "-1")]
    [InlineData("--n-gen must be at least 1", "-n", "0")]
    [InlineData("--repetitions must be at least 1", "-r", "0")]
    [InlineData("--output must be md or json", "--output", "csv")]
    [InlineData("is not available on this CPU", "--kernel", "no-such-kernel")]
    [InlineData("--bandwidth-mib 1000000000 needs more than half", "--bandwidth-mib", "1000000000")]
    [InlineData("--lookup takes the number of tokens to draft", "--lookup", "0")]
    public async Task Bad_flags_fail_with_a_message_naming_the_flag(string expected, string flag, string value)
    {
        var (code, output, error) = await CliRun.InvokeAsync(Args(flag, value));

        Assert.NotEqual(0, code);
        Assert.Matches(expected, error);
        Assert.DoesNotContain("| threads |", output);
    }

    [Fact]
    public async Task Lookup_reports_plain_and_lookup_side_by_side_per_workload_and_mode()
    {
        var (code, output, error) = await CliRun.InvokeAsync(Args("-t", "1", "-n", "12", "--lookup", "3", "--output", "json"));

        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        var runs = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(6, runs.Length); // three workloads, adaptive and always drafting
        Assert.Equal([true, false], runs.Select(r => r.GetProperty("adaptive").GetBoolean()).Distinct());
        foreach (var run in runs)
        {
            Assert.Equal(3, run.GetProperty("draft_tokens").GetInt32());
            foreach (string positive in new[] { "plain_tps", "lookup_tps", "speedup", "batch_cost_steps" })
                Assert.True(run.GetProperty(positive).GetDouble() > 0, positive);
            Assert.InRange(run.GetProperty("accepted").GetInt32(), 0, run.GetProperty("drafted").GetInt32());
            Assert.InRange(run.GetProperty("acceptance_rate").GetDouble(), 0, 1);
        }
    }

    [Fact]
    public async Task Lookup_prints_a_markdown_row_per_workload_and_mode()
    {
        var (code, output, error) = await CliRun.InvokeAsync(Args("-t", "1", "-n", "8", "--lookup"));

        Assert.True(code == 0, error);
        Assert.Contains("| threads | workload | sampling | k | mode |", output);
        Assert.Equal(6, output.Split('\n').Count(l => l.StartsWith("| 1 |", StringComparison.Ordinal)));
        Assert.Contains($"| {new PromptLookupOptions().DraftTokens} | adaptive |", output); // the library's default k
    }

    [Fact]
    public async Task Missing_model_file_is_reported()
    {
        var (code, _, error) = await CliRun.InvokeAsync(["bench", "-m", _temp.File("absent.edge")]);

        Assert.Equal(1, code);
        Assert.Contains("does not exist", error);
    }
}
