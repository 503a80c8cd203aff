using System.Buffers.Binary;

namespace Edge.Offload.Protocol;

/// <summary>Command opcodes of protocol TMV1 (docs/fpga-protocol.md §4).</summary>
public enum Opcode : byte
{
    Nop = 0x00,
    Info = 0x01,
    GetError = 0x02,
    DefineSlot = 0x10,
    LoadWeights = 0x11,
    CommitWeights = 0x12,
    LoadX = 0x20,
    Run = 0x30,
    ReadY = 0x40,
    ClearError = 0x7E,
    SoftReset = 0x7F,
}

/// <summary>Bits of status byte S0, sent on MISO bytes 0–1 of every frame (S1 = tag of the last accepted command).</summary>
[Flags]
public enum StatusFlags : byte
{
    None = 0,
    Busy = 1 << 0,
    Done = 1 << 1,
    Error = 1 << 2,
    CrcError = 1 << 3,
    Reset = 1 << 4,
}

/// <summary>The error code GET_ERR reports for the first rejected command since the last CLEAR_ERR.</summary>
public enum DeviceError : byte
{
    None = 0x00,
    HeaderCrc = 0x01,
    PayloadCrc = 0x02,
    UnknownOpcode = 0x03,
    BadField = 0x04,
    Busy = 0x05,
    SlotUndefined = 0x06,
    BadRegion = 0x07,
    OutOfRange = 0x08,
    WeightCrc = 0x09,
    SlotNotValid = 0x0A,
    StaleX = 0x0B,
    Shape = 0x0C,
    NoResult = 0x0D,
    ShortFrame = 0x0E,
}

/// <summary>First byte of a response body.</summary>
public enum ResponseCode : byte
{
    Ok = 0x00,
    NotReady = 0x01,
    Refused = 0x02,
}

/// <summary>Output formats of RUN.</summary>
public enum OutputFormat : byte
{
    Int32 = 0,
    Int24 = 1,
}

/// <summary>Frame sizes and encodings shared by the host client, the emulator and the traffic model.</summary>
public static class Tmv
{
    public const byte ProtocolVersion = 1;

    /// <summary>"TMV1": ternary matrix-vector unit, protocol 1.</summary>
    public static ReadOnlySpan<byte> Magic => "TMV1"u8;

    /// <summary>S0 bits 7..5 are always 101, so a floating (0xFF) or stuck-low (0x00) MISO never looks like a status.</summary>
    public const byte StatusMarker = 0xA0;
    public const byte StatusMarkerMask = 0xE0;

    /// <summary>Both status bytes precede everything on MISO.</summary>
    public const int StatusBytes = 2;

    /// <summary>OP, TAG.</summary>
    public const int OpAndTag = 2;

    public const int CrcBytes = 2;

    /// <summary>One byte between the header and a response, for the device to check the header CRC and fetch data.</summary>
    public const int Turnaround = 1;

    /// <summary>Response code and tag echo before the body.</summary>
    public const int ResponsePrefix = 2;

    public const int InfoBodyBytes = 32;
    public const int ErrorBodyBytes = 12;

    /// <summary>Activation vectors and slot columns come in whole blocks of the packed layout.</summary>
    public const int ColumnGranule = 256;

    /// <summary>Slot base addresses are multiples of this, so every row starts on a 64-byte boundary as in the file.</summary>
    public const int SlotAlignment = 64;

    /// <summary>SOFT_RESET's two argument bytes, so that a corrupted frame cannot reset the device by accident.</summary>
    public const byte ResetKey0 = 0xA5, ResetKey1 = 0x5A;

    /// <summary>Argument bytes after OP and TAG, per opcode; -1 for an unknown opcode.</summary>
    public static int ArgumentBytes(Opcode op) => op switch
    {
        Opcode.Nop => 0,
        Opcode.Info => 0,
        Opcode.GetError => 0,
        Opcode.DefineSlot => 9,     // slot u8, base u32, rows u16, cols u16
        Opcode.LoadWeights => 7,    // slot u8, offset u32, n u16
        Opcode.CommitWeights => 5,  // slot u8, crc32 u32
        Opcode.LoadX => 3,          // buf u8, n u16
        Opcode.Run => 4,            // slot u8, xbuf u8, xtag u8, fmt u8
        Opcode.ReadY => 4,          // offset u16, count u16
        Opcode.ClearError => 0,
        Opcode.SoftReset => 2,      // 0xA5 0x5A
        _ => -1,
    };

    /// <summary>OP, TAG, arguments and the header CRC.</summary>
    public static int HeaderBytes(Opcode op) => OpAndTag + ArgumentBytes(op) + CrcBytes;

    /// <summary>A command frame with a bulk payload (LOAD_W, LOAD_X): header, data, payload CRC.</summary>
    public static int PayloadFrameBytes(Opcode op, int payload) => HeaderBytes(op) + payload + CrcBytes;

    /// <summary>A command frame with a response (INFO, GET_ERR, READ_Y): header, turnaround, code, tag, body, CRC.</summary>
    public static int ResponseFrameBytes(Opcode op, int body) => HeaderBytes(op) + Turnaround + ResponsePrefix + body + CrcBytes;

    /// <summary>Where the response code sits in a response frame.</summary>
    public static int ResponseOffset(Opcode op) => HeaderBytes(op) + Turnaround;

    /// <summary>READ_Y body: the tag of the RUN that produced the results, then the values.</summary>
    public static int ReadYBodyBytes(int count, OutputFormat format) => 1 + count * ValueBytes(format);

    public static int ValueBytes(OutputFormat format) => format == OutputFormat.Int24 ? 3 : 4;

    /// <summary>Largest |sum| is 128·K; int24 is exact while that stays below 2^23.</summary>
    public static bool Int24IsExact(int paddedColumns) => 128L * paddedColumns < 1 << 23;

    public static int PaddedColumns(int columns) => (columns + ColumnGranule - 1) / ColumnGranule * ColumnGranule;

    public static int RowBytes(int columns) => PaddedColumns(columns) / 4;

    /// <summary>Fabric clocks a RUN of a rows × columns slot takes: one row-serial pass of LANES weights per clock.</summary>
    public static long RunClocks(int rows, int columns, int lanes, int overhead) =>
        (long)rows * ((PaddedColumns(columns) + lanes - 1) / lanes) + overhead;

    /// <summary>Fabric clocks COMMIT_W spends re-reading the slot through a byte-wide CRC-32.</summary>
    public static long CommitClocks(long slotBytes, int overhead) => slotBytes + overhead;

    public static void WriteValue(Span<byte> destination, int value, OutputFormat format)
    {
        if (format == OutputFormat.Int24)
        {
            destination[0] = (byte)value;
            destination[1] = (byte)(value >> 8);
            destination[2] = (byte)(value >> 16);
        }
        else
        {
            BinaryPrimitives.WriteInt32LittleEndian(destination, value);
        }
    }

    public static int ReadValue(ReadOnlySpan<byte> source, OutputFormat format) =>
        format == OutputFormat.Int24
            ? (source[0] | source[1] << 8 | (sbyte)source[2] << 16)
            : BinaryPrimitives.ReadInt32LittleEndian(source);
}

/// <summary>CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR); check("123456789") = 0x29B1.</summary>
public static class Crc16
{
    static readonly ushort[] Table = BuildTable();

    static ushort[] BuildTable()
    {
        var t = new ushort[256];
        for (int i = 0; i < 256; i++)
        {
            int c = i << 8;
            for (int b = 0; b < 8; b++)
                c = (c & 0x8000) != 0 ? (c << 1) ^ 0x1021 : c << 1;
            t[i] = (ushort)c;
        }
        return t;
    }

    public static ushort Compute(ReadOnlySpan<byte> data)
    {
        ushort crc = 0xFFFF;
        foreach (byte b in data)
            crc = (ushort)((crc << 8) ^ Table[(crc >> 8) ^ b]);
        return crc;
    }

    /// <summary>Appends the CRC of data[..^2] into its last two bytes, little-endian.</summary>
    public static void Seal(Span<byte> dataAndCrc) =>
        BinaryPrimitives.WriteUInt16LittleEndian(dataAndCrc[^2..], Compute(dataAndCrc[..^2]));

    /// <summary>True when the last two bytes are the little-endian CRC of the rest.</summary>
    public static bool Check(ReadOnlySpan<byte> dataAndCrc) =>
        dataAndCrc.Length >= 2 && BinaryPrimitives.ReadUInt16LittleEndian(dataAndCrc[^2..]) == Compute(dataAndCrc[..^2]);
}
