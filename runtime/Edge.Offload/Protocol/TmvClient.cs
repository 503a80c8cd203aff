using System.Buffers.Binary;
using System.Device.Spi;

namespace Edge.Offload.Protocol;

/// <summary>What went wrong on the link; the offload backend retries, then falls back to the CPU.</summary>
public enum FaultKind
{
    /// <summary>A response failed its CRC, or the device reported CRC_ERR for something the host sent.</summary>
    Crc,

    /// <summary>The device stayed BUSY far longer than the operation needs.</summary>
    BusyTimeout,

    /// <summary>The tag in the status or a response is not the one expected: a frame was lost.</summary>
    LostFrame,

    /// <summary>The RESET status bit is set: the device lost its weights and buffers.</summary>
    DeviceReset,

    /// <summary>The device rejected a command (ERR set).</summary>
    DeviceError,

    /// <summary>MISO does not carry a TMV1 status: nothing answers on this chip select.</summary>
    NoAnswer,
}

/// <summary>A link fault; transient by nature, so the caller may retry the whole (idempotent) transaction.</summary>
public sealed class OffloadFaultException(FaultKind kind, string message) : Exception(message)
{
    public FaultKind Kind { get; } = kind;
}

/// <summary>The response code of READ_Y, with the tag of the RUN whose results were read.</summary>
public readonly record struct ReadYResult(ResponseCode Code, byte RunTag);

/// <summary>The GET_ERR body.</summary>
public readonly record struct ErrorReport(DeviceError Code, Opcode Op, byte Tag, uint Frames, uint CrcErrors);

/// <summary>
/// The host side of protocol TMV1 over an <see cref="SpiDevice"/> (real spidev or the emulator): builds each frame,
/// checks the status bytes and response CRCs, and hands out tags. It does not retry; it throws
/// <see cref="OffloadFaultException"/> and leaves recovery to the caller.
/// </summary>
public sealed class TmvClient
{
    readonly SpiDevice _spi;
    readonly byte[] _tx, _rx;
    byte _nextTag = 1;
    byte _expectedTag;
    readonly HashSet<byte> _reservedTags = [];

    /// <param name="maxFrameBytes">Longest chip-select frame; spidev's default bufsiz is 4096.</param>
    public TmvClient(SpiDevice spi, int maxFrameBytes = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrameBytes, 64);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxFrameBytes, 65535);
        _spi = spi;
        SclkHz = spi.ConnectionSettings.ClockFrequency;
        if (SclkHz <= 0)
            throw new OffloadException("The SPI device has no clock frequency set; give one, e.g. spi:0.0@12MHz.");
        MaxFrameBytes = maxFrameBytes;
        _tx = new byte[maxFrameBytes];
        _rx = new byte[maxFrameBytes];
    }

    public int SclkHz { get; }

    public int MaxFrameBytes { get; }

    /// <summary>Frames and bytes sent so far (including waits), for statistics and the elapsed-time estimate.</summary>
    public long Frames { get; private set; }

    public long Bytes { get; private set; }

    /// <summary>S0 and S1 of the last frame.</summary>
    public StatusFlags LastStatus { get; private set; }

    public byte LastStatusTag { get; private set; }

    /// <summary>
    /// Tags that must not be handed out because a device buffer still carries them (so a lost LOAD_X or RUN cannot
    /// alias an older one after the 8-bit counter wraps). The caller keeps this set current.
    /// </summary>
    public ISet<byte> ReservedTags => _reservedTags;

    /// <summary>Fabric clocks of the device that pass while <paramref name="bytes"/> bytes are clocked at SCLK.</summary>
    public static long ClocksFor(long bytes, int sclkHz, int fabricKHz) => bytes * 8 * fabricKHz * 1000L / sclkHz;

    /// <summary>Bytes of SCLK needed for <paramref name="clocks"/> fabric clocks to pass.</summary>
    public static long BytesFor(long clocks, int sclkHz, int fabricKHz) => (clocks * sclkHz + 8L * fabricKHz * 1000 - 1) / (8L * fabricKHz * 1000);

    byte NewTag()
    {
        do
        {
            _nextTag = _nextTag == 255 ? (byte)1 : (byte)(_nextTag + 1);
        }
        while (_reservedTags.Contains(_nextTag));
        return _nextTag;
    }

    /// <summary>One chip-select frame of <paramref name="length"/> bytes from _tx into _rx; checks the status marker.</summary>
    void Transfer(int length)
    {
        _spi.TransferFullDuplex(_tx.AsSpan(0, length), _rx.AsSpan(0, length));
        Frames++;
        Bytes += length;
        byte s0 = _rx[0];
        if ((s0 & Tmv.StatusMarkerMask) != Tmv.StatusMarker)
            throw new OffloadFaultException(FaultKind.NoAnswer, $"MISO carried 0x{s0:X2} where a TMV1 status was expected.");
        LastStatus = (StatusFlags)(s0 & 0x1F);
        LastStatusTag = _rx[1];
    }

    /// <summary>
    /// Throws unless the status before this frame says: no error, no reset, and the last accepted command is the one
    /// this host sent last. Every command frame thus confirms its predecessor.
    /// </summary>
    public void RequireClean()
    {
        var s = LastStatus;
        if ((s & StatusFlags.Reset) != 0)
            throw new OffloadFaultException(FaultKind.DeviceReset, "The device was reset; its weights are gone.");
        if ((s & StatusFlags.CrcError) != 0)
            throw new OffloadFaultException(FaultKind.Crc, "The device saw a frame with a bad CRC.");
        if ((s & StatusFlags.Error) != 0)
            throw new OffloadFaultException(FaultKind.DeviceError, "The device rejected a command.");
        if (LastStatusTag != _expectedTag)
            throw new OffloadFaultException(FaultKind.LostFrame, $"The device last accepted tag {LastStatusTag}, not {_expectedTag}.");
    }

    int BeginCommand(Opcode op, byte tag)
    {
        _tx[0] = (byte)op;
        _tx[1] = tag;
        return Tmv.OpAndTag;
    }

    /// <summary>Seals the header CRC after the arguments and returns the header length.</summary>
    int SealHeader(Opcode op)
    {
        int header = Tmv.HeaderBytes(op);
        Crc16.Seal(_tx.AsSpan(0, header));
        return header;
    }

    /// <summary>A status poll; extra bytes make it a wait of that many SCLK bytes. Returns S0.</summary>
    public StatusFlags Nop(int bytes = Tmv.StatusBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, Tmv.StatusBytes);
        int length = Math.Min(bytes, MaxFrameBytes);
        _tx.AsSpan(0, length).Clear();
        Transfer(length);
        return LastStatus;
    }

    /// <summary>Lets at least <paramref name="clocks"/> fabric clocks pass with NOP frames.</summary>
    public void Wait(long clocks, int fabricKHz)
    {
        long bytes = BytesFor(clocks, SclkHz, fabricKHz);
        while (bytes > 0)
        {
            int n = (int)Math.Clamp(bytes, Tmv.StatusBytes, MaxFrameBytes);
            Nop(n);
            bytes -= n;
        }
    }

    public DeviceInfo Info()
    {
        var body = Query(Opcode.Info, Tmv.InfoBodyBytes, out _);
        return DeviceInfo.Decode(body);
    }

    public ErrorReport GetError()
    {
        var body = Query(Opcode.GetError, Tmv.ErrorBodyBytes, out _);
        return new ErrorReport((DeviceError)body[0], (Opcode)body[1], body[2],
            BinaryPrimitives.ReadUInt32LittleEndian(body[4..]), BinaryPrimitives.ReadUInt32LittleEndian(body[8..]));
    }

    /// <summary>INFO or GET_ERR: allowed in any state, so no status precondition. Returns the checked body.</summary>
    ReadOnlySpan<byte> Query(Opcode op, int bodyBytes, out ResponseCode code)
    {
        byte tag = NewTag();
        BeginCommand(op, tag);
        int header = SealHeader(op);
        int length = Tmv.ResponseFrameBytes(op, bodyBytes);
        _tx.AsSpan(header, length - header).Clear();
        Transfer(length);
        var response = CheckResponse(op, tag, length, out code);
        if (code != ResponseCode.Ok)
            throw new OffloadFaultException(FaultKind.DeviceError, $"The device refused {op}.");
        _expectedTag = tag;
        return response;
    }

    ReadOnlySpan<byte> CheckResponse(Opcode op, byte tag, int length, out ResponseCode code)
    {
        var response = _rx.AsSpan(Tmv.ResponseOffset(op), length - Tmv.ResponseOffset(op));
        if (!Crc16.Check(response))
            throw new OffloadFaultException(FaultKind.Crc, $"The {op} response failed its CRC.");
        if (response[1] != tag)
            throw new OffloadFaultException(FaultKind.LostFrame, $"The {op} response echoes tag {response[1]}, not {tag}.");
        code = (ResponseCode)response[0];
        return response[Tmv.ResponsePrefix..^Tmv.CrcBytes];
    }

    /// <summary>Sends a command without a response after checking the status that came with it. Returns its tag.</summary>
    byte Send(Opcode op, byte tag, int length, bool requireClean = true)
    {
        Transfer(length);
        if (requireClean)
            RequireClean();
        _expectedTag = tag;
        return tag;
    }

    public byte DefineSlot(int slot, long baseAddress, int rows, int columns)
    {
        byte tag = NewTag();
        int at = BeginCommand(Opcode.DefineSlot, tag);
        _tx[at] = checked((byte)slot);
        BinaryPrimitives.WriteUInt32LittleEndian(_tx.AsSpan(at + 1), checked((uint)baseAddress));
        BinaryPrimitives.WriteUInt16LittleEndian(_tx.AsSpan(at + 5), checked((ushort)rows));
        BinaryPrimitives.WriteUInt16LittleEndian(_tx.AsSpan(at + 7), checked((ushort)columns));
        return Send(Opcode.DefineSlot, tag, SealHeader(Opcode.DefineSlot));
    }

    /// <summary>Largest LOAD_W or LOAD_X payload that fits one frame.</summary>
    public int MaxPayload(Opcode op) => MaxFrameBytes - Tmv.PayloadFrameBytes(op, 0);

    public byte LoadWeights(int slot, long offset, ReadOnlySpan<byte> data)
    {
        byte tag = NewTag();
        int at = BeginCommand(Opcode.LoadWeights, tag);
        _tx[at] = checked((byte)slot);
        BinaryPrimitives.WriteUInt32LittleEndian(_tx.AsSpan(at + 1), checked((uint)offset));
        BinaryPrimitives.WriteUInt16LittleEndian(_tx.AsSpan(at + 5), checked((ushort)data.Length));
        return Send(Opcode.LoadWeights, tag, WithPayload(Opcode.LoadWeights, data));
    }

    int WithPayload(Opcode op, ReadOnlySpan<byte> data)
    {
        int header = SealHeader(op);
        if (header + data.Length + Tmv.CrcBytes > MaxFrameBytes)
            throw new ArgumentException($"{data.Length} bytes do not fit one {MaxFrameBytes}-byte frame.", nameof(data));
        data.CopyTo(_tx.AsSpan(header));
        int length = header + data.Length + Tmv.CrcBytes;
        Crc16.Seal(_tx.AsSpan(header, data.Length + Tmv.CrcBytes));
        return length;
    }

    public byte Commit(int slot, uint crc32)
    {
        byte tag = NewTag();
        int at = BeginCommand(Opcode.CommitWeights, tag);
        _tx[at] = checked((byte)slot);
        BinaryPrimitives.WriteUInt32LittleEndian(_tx.AsSpan(at + 1), crc32);
        return Send(Opcode.CommitWeights, tag, SealHeader(Opcode.CommitWeights));
    }

    public byte LoadX(int buffer, ReadOnlySpan<sbyte> x)
    {
        byte tag = NewTag();
        int at = BeginCommand(Opcode.LoadX, tag);
        _tx[at] = checked((byte)buffer);
        BinaryPrimitives.WriteUInt16LittleEndian(_tx.AsSpan(at + 1), checked((ushort)x.Length));
        return Send(Opcode.LoadX, tag, WithPayload(Opcode.LoadX, System.Runtime.InteropServices.MemoryMarshal.AsBytes(x)));
    }

    public byte Run(int slot, int xBuffer, byte xTag, OutputFormat format)
    {
        byte tag = NewTag();
        int at = BeginCommand(Opcode.Run, tag);
        _tx[at] = checked((byte)slot);
        _tx[at + 1] = checked((byte)xBuffer);
        _tx[at + 2] = xTag;
        _tx[at + 3] = (byte)format;
        return Send(Opcode.Run, tag, SealHeader(Opcode.Run));
    }

    /// <summary>Most values one READ_Y frame can carry.</summary>
    public int MaxReadCount(OutputFormat format) =>
        (MaxFrameBytes - Tmv.ResponseFrameBytes(Opcode.ReadY, Tmv.ReadYBodyBytes(0, format))) / Tmv.ValueBytes(format);

    /// <summary>
    /// Reads results [offset, offset + y.Length). NOT_READY (still BUSY) is returned, not thrown; any other refusal,
    /// a CRC failure or a tag mismatch throws.
    /// </summary>
    public ReadYResult ReadY(int offset, Span<int> y, OutputFormat format)
    {
        byte tag = NewTag();
        int at = BeginCommand(Opcode.ReadY, tag);
        BinaryPrimitives.WriteUInt16LittleEndian(_tx.AsSpan(at), checked((ushort)offset));
        BinaryPrimitives.WriteUInt16LittleEndian(_tx.AsSpan(at + 2), checked((ushort)y.Length));
        int header = SealHeader(Opcode.ReadY);
        int length = Tmv.ResponseFrameBytes(Opcode.ReadY, Tmv.ReadYBodyBytes(y.Length, format));
        if (length > MaxFrameBytes)
            throw new ArgumentException($"{y.Length} results do not fit one {MaxFrameBytes}-byte frame.", nameof(y));
        _tx.AsSpan(header, length - header).Clear();
        Transfer(length);
        RequireClean();
        var body = CheckResponse(Opcode.ReadY, tag, length, out var code);
        if (code == ResponseCode.NotReady)
            return new ReadYResult(code, 0);
        if (code != ResponseCode.Ok)
            throw new OffloadFaultException(FaultKind.DeviceError, "The device refused READ_Y.");
        _expectedTag = tag;
        int size = Tmv.ValueBytes(format);
        for (int i = 0; i < y.Length; i++)
            y[i] = Tmv.ReadValue(body.Slice(1 + i * size, size), format);
        return new ReadYResult(code, body[0]);
    }

    /// <summary>CLEAR_ERR, then a poll that confirms it: afterwards ERR, CRC_ERR and RESET are clear. Returns S0.</summary>
    public StatusFlags ClearError()
    {
        byte tag = NewTag();
        BeginCommand(Opcode.ClearError, tag);
        Send(Opcode.ClearError, tag, SealHeader(Opcode.ClearError), requireClean: false);
        var s = Nop();
        if (LastStatusTag != tag || (s & (StatusFlags.Error | StatusFlags.CrcError | StatusFlags.Reset)) != 0)
            throw new OffloadFaultException(FaultKind.LostFrame, "CLEAR_ERR was not confirmed by the device.");
        return s;
    }

    /// <summary>SOFT_RESET: clears all slots and buffers, then confirms the RESET bit (tag 0 afterwards).</summary>
    public void SoftReset()
    {
        BeginCommand(Opcode.SoftReset, 0);
        _tx[2] = Tmv.ResetKey0;
        _tx[3] = Tmv.ResetKey1;
        Send(Opcode.SoftReset, 0, SealHeader(Opcode.SoftReset), requireClean: false);
        var s = Nop();
        if ((s & StatusFlags.Reset) == 0 || LastStatusTag != 0)
            throw new OffloadFaultException(FaultKind.LostFrame, "SOFT_RESET was not confirmed by the device.");
    }

    /// <summary>Polls until the device is not BUSY, at most <paramref name="polls"/> waits of <paramref name="clocksPerPoll"/>.</summary>
    public StatusFlags WaitWhileBusy(long clocksPerPoll, int fabricKHz, int polls)
    {
        for (int i = 0; i < polls; i++)
        {
            var s = Nop();
            if ((s & StatusFlags.Busy) == 0)
                return s;
            Wait(clocksPerPoll, fabricKHz);
        }
        throw new OffloadFaultException(FaultKind.BusyTimeout, "The device stayed BUSY.");
    }
}
