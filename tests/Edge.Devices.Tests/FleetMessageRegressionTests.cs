using System.Buffers;
using System.Text;
using Edge.Devices.Fleet;

namespace Edge.Devices.Tests;

/// <summary>Payloads edge-fuzz found (docs/RELIABILITY.md) that threw out of the fleet parsers instead of being refused.</summary>
public sealed class FleetMessageRegressionTests
{
    public static TheoryData<string> BrokenStrings => new()
    {
        "{\"id\": \"req-1\", \"prompt\": \"The sensor\\ud800 reads.\"}", // an escaped lone surrogate
        "{\"id\": \"req-\u00ff\", \"prompt\": \"x\", \"worker\": \"w\", \"text\": \"t\", \"state\": \"online\"}", // 0xFF patched in below
    };

    [Theory]
    [MemberData(nameof(BrokenStrings))]
    public void InvalidStringsAreRefusedNotThrown(string json)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        int patched = Array.IndexOf(bytes, (byte)0xC3);
        if (patched >= 0)
            bytes = [.. bytes[..patched], 0xFF, .. bytes[(patched + 2)..]]; // invalid UTF-8 inside a string
        var payload = new ReadOnlySequence<byte>(bytes);
        Assert.Null(FleetMessages.ParseRequest(payload, "edge/results", null, out string? error));
        Assert.Contains("not valid UTF-8 or Unicode", error);
        Assert.Null(FleetMessages.ParseReply(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(
            "{\"id\": \"a\\udc00\", \"worker\": \"w\", \"text\": \"t\"}"))));
        _ = FleetMessages.IsOnlineStatus(payload); // must return, whatever it decides
    }

    [Fact]
    public void AJsonErrorIsOneShortLine()
    {
        Assert.Null(FleetMessages.ParseRequest(new ReadOnlySequence<byte>("{\"id\": \"x\",\n\n\"prompt\": tru}"u8.ToArray()), "t", null, out string? error));
        Assert.StartsWith("the payload is not valid JSON (line 3, byte ", error);
        Assert.DoesNotContain('\n', error!);
    }
}
