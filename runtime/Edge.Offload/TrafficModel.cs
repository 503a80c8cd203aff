using Edge.Offload.Protocol;

namespace Edge.Offload;

/// <summary>Bytes, frames and time on the SPI link for one decoded token (batch 1), from the protocol's frame sizes.</summary>
public readonly record struct TokenTraffic(long Bytes, long Frames, long WaitBytes, double Seconds, long ComputeClocks);

/// <summary>
/// Predicts the link traffic of the offload backend for one token: per BitLinear LOAD_X, RUN, a NOP wait while the
/// device computes, and READ_Y in as many frames as the frame limit needs; int24 results. It assumes every selected
/// layer is resident and nothing is re-sent (no faults). A test checks it against the emulator frame for frame.
/// </summary>
public static class TrafficModel
{
    /// <summary>The BitLinear shapes (rows, columns) of one HGRN-Bit block: i, f, g, o, gate|up, down.</summary>
    public static IEnumerable<(int Rows, int Columns)> BlockShapes(int hidden, int intermediate) =>
    [
        (hidden, hidden), (hidden, hidden), (hidden, hidden), (hidden, hidden), (2 * intermediate, hidden), (hidden, intermediate),
    ];

    /// <param name="frameOverheadSeconds">Fixed host cost per chip-select frame (a spidev ioctl: about 10–50 µs on a Pi).</param>
    public static TokenTraffic Product(int rows, int columns, DeviceInfo device, int sclkHz, int maxFrameBytes, double frameOverheadSeconds)
    {
        int k = Tmv.PaddedColumns(columns);
        var format = device.SupportsInt24 && Tmv.Int24IsExact(k) ? OutputFormat.Int24 : OutputFormat.Int32;
        long bytes = Tmv.PayloadFrameBytes(Opcode.LoadX, k) + Tmv.HeaderBytes(Opcode.Run);
        long frames = 2;
        long clocks = Tmv.RunClocks(rows, columns, device.Lanes, device.OverheadClocks);
        long wait = TmvClient.BytesFor(clocks, sclkHz, device.FabricClockKHz);
        for (long left = wait; left > 0; left -= Math.Min(left, maxFrameBytes))
            frames++;
        wait = Math.Max(wait, wait > 0 ? Tmv.StatusBytes : 0);
        int perFrame = (maxFrameBytes - Tmv.ResponseFrameBytes(Opcode.ReadY, Tmv.ReadYBodyBytes(0, format))) / Tmv.ValueBytes(format);
        for (int offset = 0; offset < rows; offset += perFrame)
        {
            bytes += Tmv.ResponseFrameBytes(Opcode.ReadY, Tmv.ReadYBodyBytes(Math.Min(perFrame, rows - offset), format));
            frames++;
        }
        bytes += wait;
        return new TokenTraffic(bytes, frames, wait, bytes * 8.0 / sclkHz + frames * frameOverheadSeconds, clocks);
    }

    public static TokenTraffic Sum(IEnumerable<TokenTraffic> parts) => parts.Aggregate(new TokenTraffic(), (a, b) =>
        new TokenTraffic(a.Bytes + b.Bytes, a.Frames + b.Frames, a.WaitBytes + b.WaitBytes, a.Seconds + b.Seconds, a.ComputeClocks + b.ComputeClocks));

    /// <summary>All block BitLinears of a model on the device (lm_head stays on the host).</summary>
    public static TokenTraffic Token(int hidden, int intermediate, int layers, DeviceInfo device, int sclkHz, int maxFrameBytes, double frameOverheadSeconds)
    {
        var block = Sum(BlockShapes(hidden, intermediate).Select(s => Product(s.Rows, s.Columns, device, sclkHz, maxFrameBytes, frameOverheadSeconds)));
        return new TokenTraffic(block.Bytes * layers, block.Frames * layers, block.WaitBytes * layers, block.Seconds * layers, block.ComputeClocks * layers);
    }
}
