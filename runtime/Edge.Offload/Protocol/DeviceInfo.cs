using System.Buffers.Binary;

namespace Edge.Offload.Protocol;

/// <summary>What INFO reports: the device's identity, capacity and timing (docs/fpga-protocol.md §4.2).</summary>
public sealed record DeviceInfo
{
    public byte Version { get; init; } = Tmv.ProtocolVersion;

    /// <summary>Ternary weights the engine consumes per fabric clock.</summary>
    public int Lanes { get; init; }
    public int Slots { get; init; }
    public int XBuffers { get; init; }

    /// <summary>Longest activation vector (padded columns).</summary>
    public int MaxColumns { get; init; }

    /// <summary>Most rows of one slot, which is also the size of the result buffer.</summary>
    public int MaxRows { get; init; }

    /// <summary>Bytes of weight memory shared by all slots.</summary>
    public long WeightBytes { get; init; }
    public int FabricClockKHz { get; init; }

    /// <summary>Fixed clocks a RUN or COMMIT_W takes on top of its streaming time.</summary>
    public int OverheadClocks { get; init; }
    public bool SupportsInt24 { get; init; }

    /// <summary>The fastest SCLK the SPI front end is specified for.</summary>
    public int MaxSclkKHz { get; init; }
    public uint BuildId { get; init; }

    public void Encode(Span<byte> body)
    {
        body[..Tmv.InfoBodyBytes].Clear();
        Tmv.Magic.CopyTo(body);
        body[4] = Version;
        body[5] = checked((byte)Lanes);
        body[6] = checked((byte)Slots);
        body[7] = checked((byte)XBuffers);
        BinaryPrimitives.WriteUInt16LittleEndian(body[8..], checked((ushort)MaxColumns));
        BinaryPrimitives.WriteUInt16LittleEndian(body[10..], checked((ushort)MaxRows));
        BinaryPrimitives.WriteUInt32LittleEndian(body[12..], checked((uint)WeightBytes));
        BinaryPrimitives.WriteUInt32LittleEndian(body[16..], checked((uint)FabricClockKHz));
        BinaryPrimitives.WriteUInt16LittleEndian(body[20..], checked((ushort)OverheadClocks));
        body[22] = (byte)(1 | (SupportsInt24 ? 2 : 0));
        BinaryPrimitives.WriteUInt32LittleEndian(body[24..], checked((uint)MaxSclkKHz));
        BinaryPrimitives.WriteUInt32LittleEndian(body[28..], BuildId);
    }

    /// <summary>Parses an INFO body; throws <see cref="OffloadException"/> when it is not a TMV1 device this host can drive.</summary>
    public static DeviceInfo Decode(ReadOnlySpan<byte> body)
    {
        if (!body[..4].SequenceEqual(Tmv.Magic))
            throw new OffloadException("The SPI device did not answer INFO with the TMV1 magic: check wiring, chip select and that the gateware is loaded.");
        if (body[4] != Tmv.ProtocolVersion)
            throw new OffloadException($"The device speaks protocol version {body[4]}; this host speaks {Tmv.ProtocolVersion}. Update the gateware or Edge.");
        var info = new DeviceInfo
        {
            Version = body[4],
            Lanes = body[5],
            Slots = body[6],
            XBuffers = body[7],
            MaxColumns = BinaryPrimitives.ReadUInt16LittleEndian(body[8..]),
            MaxRows = BinaryPrimitives.ReadUInt16LittleEndian(body[10..]),
            WeightBytes = BinaryPrimitives.ReadUInt32LittleEndian(body[12..]),
            FabricClockKHz = (int)BinaryPrimitives.ReadUInt32LittleEndian(body[16..]),
            OverheadClocks = BinaryPrimitives.ReadUInt16LittleEndian(body[20..]),
            SupportsInt24 = (body[22] & 2) != 0,
            MaxSclkKHz = (int)BinaryPrimitives.ReadUInt32LittleEndian(body[24..]),
            BuildId = BinaryPrimitives.ReadUInt32LittleEndian(body[28..]),
        };
        if (info.Lanes == 0 || info.Slots == 0 || info.XBuffers == 0 || info.MaxColumns == 0 || info.MaxRows == 0 || info.FabricClockKHz == 0)
            throw new OffloadException("The device's INFO reports a zero capacity or clock; the gateware is misconfigured.");
        return info;
    }

    /// <summary>The UP5K build this repository documents: 128 KiB SPRAM of weights, 32 lanes at 48 MHz (docs/fpga-protocol.md §6).</summary>
    public static DeviceInfo Up5k { get; } = new()
    {
        Lanes = 32,
        Slots = 16,
        XBuffers = 2,
        MaxColumns = 2048,
        MaxRows = 2048,
        WeightBytes = 128 * 1024,
        FabricClockKHz = 48_000,
        OverheadClocks = 16,
        SupportsInt24 = true,
        MaxSclkKHz = 12_000,
        BuildId = 0x454D5531, // "EMU1": the emulator's build
    };

    /// <summary>
    /// What the gateware in fpga/ reports: the limits of <see cref="Up5k"/> at the clock its bitstream closes timing
    /// at, HFOSC / 2 = 24 MHz (SCLK up to 6 MHz), build id "RTL1". The co-simulation runs the same clock.
    /// </summary>
    public static DeviceInfo Up5kGateware { get; } = Up5k with { FabricClockKHz = 24_000, MaxSclkKHz = 6_000, BuildId = 0x314C5452 };
}

/// <summary>A problem with the offload device or its configuration that the user can fix; the message says how.</summary>
public class OffloadException(string message) : IOException(message);
