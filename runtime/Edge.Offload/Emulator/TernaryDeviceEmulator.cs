using System.Buffers.Binary;
using System.Device.Spi;
using System.IO.Hashing;
using Edge.Offload.Protocol;

namespace Edge.Offload.Emulator;

/// <summary>
/// A bit-exact model of the TMV1 device (docs/fpga-protocol.md) behind <see cref="SpiDevice"/>: one
/// <see cref="TransferFullDuplex"/> call is one chip-select frame. It keeps the device's capacity limits and a virtual
/// fabric clock that advances only with SCLK (8·f_clk/SCLK clocks per byte), so BUSY and DONE change in exactly the
/// frames where the gateware would change them, independent of how fast the host machine is.
/// </summary>
public sealed class TernaryDeviceEmulator : SimulatedSpiDevice
{
    readonly DeviceInfo _info;
    readonly SpiConnectionSettings _settings;
    readonly byte[] _weights;
    readonly Slot[] _slots;
    readonly byte[][] _x;
    readonly int[] _xLength;
    readonly byte[] _xTag;
    readonly int[] _y;

    // Status and error registers.
    bool _error, _crcError, _resetFlag, _done;
    byte _lastTag;
    DeviceError _errorCode;
    byte _errorOp, _errorTag;
    uint _framesSinceReset, _crcErrors;

    // The operation in progress, if any.
    enum Work { None, Run, Commit }
    Work _work;
    long _busyUntil;
    int _runSlot, _runXBuffer;
    byte _runTag;
    OutputFormat _runFormat;
    int _commitSlot;
    uint _commitCrc;
    byte _commitTag;
    bool _stallNextWork;
    bool _unplugged;

    // Results of the last completed RUN.
    int _yRows;
    byte _yTag;
    OutputFormat _yFormat;

    struct Slot
    {
        public bool Defined, Valid;
        public long Base;
        public int Rows, Columns;
        public readonly long Bytes => (long)Rows * Tmv.RowBytes(Columns);
    }

    /// <param name="capacity">The device to model; default <see cref="DeviceInfo.Up5k"/>.</param>
    /// <param name="sclkHz">The SCLK the host runs, which sets how fast the virtual clock advances per byte.</param>
    public TernaryDeviceEmulator(DeviceInfo? capacity = null, int sclkHz = 12_000_000, EmulatorFaults? faults = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sclkHz, 1);
        _info = capacity ?? DeviceInfo.Up5k;
        _settings = new SpiConnectionSettings(0, 0) { ClockFrequency = sclkHz, Mode = SpiMode.Mode0 };
        Faults = faults;
        _weights = new byte[_info.WeightBytes];
        _slots = new Slot[_info.Slots];
        _x = Enumerable.Range(0, _info.XBuffers).Select(_ => new byte[_info.MaxColumns]).ToArray();
        _xLength = new int[_info.XBuffers];
        _xTag = new byte[_info.XBuffers];
        _y = new int[_info.MaxRows];
        PowerOnReset();
    }

    public override SpiConnectionSettings ConnectionSettings => _settings;

    public DeviceInfo Info => _info;

    public EmulatorFaults? Faults { get; }

    /// <summary>Fabric clocks since the emulator was created.</summary>
    public long Clock { get; private set; }

    /// <summary>Frames seen on the bus, including ones a fault dropped.</summary>
    public long Frames { get; private set; }

    public long Bytes { get; private set; }

    /// <summary>Clears everything, as power-up and SOFT_RESET do; the RESET status bit tells the host.</summary>
    void PowerOnReset()
    {
        Array.Clear(_slots);
        Array.Clear(_xLength);
        Array.Clear(_xTag);
        _error = _crcError = _done = false;
        _resetFlag = true;
        _lastTag = 0;
        _errorCode = DeviceError.None;
        _errorOp = _errorTag = 0;
        _framesSinceReset = _crcErrors = 0;
        _work = Work.None;
        _stallNextWork = false;
        _yRows = 0;
        _yTag = 0;
        _yFormat = OutputFormat.Int32;
    }

    public override void TransferFullDuplex(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        if (writeBuffer.Length != readBuffer.Length)
            throw new ArgumentException("A full-duplex transfer needs equal write and read lengths.");
        int length = writeBuffer.Length;
        if (length == 0)
            return;
        Frames++;
        Bytes += length;
        if (_unplugged)
        {
            readBuffer.Fill(0xFF);
            return;
        }
        var fault = Faults?.Next(Frames, command: writeBuffer[0] != (byte)Opcode.Nop) ?? InjectedFault.None;
        if (fault == InjectedFault.StopAnswering)
        {
            _unplugged = true;
            readBuffer.Fill(0xFF);
            return;
        }
        if (fault == InjectedFault.Reset)
            PowerOnReset();
        if (fault == InjectedFault.Stall)
            _stallNextWork = true;

        long start = Clock;
        long end = start + ClocksFor(length);
        byte[] mosi = writeBuffer.ToArray();
        if (fault == InjectedFault.FlipMosiBit)
            FlipBit(mosi, Faults!.EveryFaultDetectable ? CheckedMosiBytes(mosi) : mosi.Length);
        // What the device clocked in before chip select rose; MISO is not driven after that.
        int received = fault == InjectedFault.TruncateFrame ? 1 + Faults!.NextBit(length - 1) : length;

        Advance(start);
        readBuffer.Clear();
        readBuffer[0] = StatusByte();
        if (length > 1)
            readBuffer[1] = _lastTag;
        if (fault == InjectedFault.DropFrame)
        {
            readBuffer[Tmv.StatusBytes..].Fill(0xFF);
        }
        else
        {
            _framesSinceReset++;
            Execute(received == length ? mosi : mosi[..received], readBuffer, start);
        }
        Clock = end;
        Advance(end);
        readBuffer[received..].Fill(0xFF);
        if (fault == InjectedFault.FlipMisoBit)
            FlipMisoBit(mosi, readBuffer);
    }

    long ClocksFor(long bytes) => (bytes * 8 * _info.FabricClockKHz * 1000 + _settings.ClockFrequency - 1) / _settings.ClockFrequency;

    void FlipBit(Span<byte> frame, int bytes)
    {
        int bit = Faults!.NextBit(bytes * 8);
        frame[bit / 8] ^= (byte)(1 << (bit % 8));
    }

    /// <summary>The bytes of a host frame that the device checks: the header, and a payload with its CRC.</summary>
    static int CheckedMosiBytes(ReadOnlySpan<byte> mosi)
    {
        var op = (Opcode)mosi[0];
        if (Tmv.ArgumentBytes(op) < 0)
            return mosi.Length;
        int header = Tmv.HeaderBytes(op), checkedBytes = header;
        if (op is Opcode.LoadWeights or Opcode.LoadX && mosi.Length >= header)
            checkedBytes += BinaryPrimitives.ReadUInt16LittleEndian(mosi[(header - Tmv.CrcBytes - 2)..]) + Tmv.CrcBytes;
        return Math.Min(checkedBytes, mosi.Length);
    }

    /// <summary>
    /// A MISO bit flip; for <see cref="EmulatorFaults.EveryFaultDetectable"/> one in the response (CRC-covered) or,
    /// for a frame without one, in the status marker.
    /// </summary>
    void FlipMisoBit(ReadOnlySpan<byte> mosi, Span<byte> miso)
    {
        if (!Faults!.EveryFaultDetectable)
        {
            FlipBit(miso, miso.Length);
            return;
        }
        var op = (Opcode)mosi[0];
        if (HasResponse(op) && miso.Length > Tmv.ResponseOffset(op))
            FlipBit(miso[Tmv.ResponseOffset(op)..], miso.Length - Tmv.ResponseOffset(op));
        else
            miso[0] ^= (byte)(0x20 << Faults.NextBit(3));
    }

    byte StatusByte()
    {
        int s = Tmv.StatusMarker;
        if (_work != Work.None) s |= (int)StatusFlags.Busy;
        if (_done) s |= (int)StatusFlags.Done;
        if (_error) s |= (int)StatusFlags.Error;
        if (_crcError) s |= (int)StatusFlags.CrcError;
        if (_resetFlag) s |= (int)StatusFlags.Reset;
        return (byte)s;
    }

    /// <summary>Finishes the operation in progress if the clock has reached its end.</summary>
    void Advance(long now)
    {
        if (_work == Work.None || now < _busyUntil)
            return;
        var work = _work;
        _work = Work.None;
        if (work == Work.Run)
            FinishRun();
        else
            FinishCommit();
    }

    void StartWork(Work work, long now, long clocks)
    {
        _work = work;
        _busyUntil = _stallNextWork ? long.MaxValue : now + clocks;
        _stallNextWork = false;
    }

    void Reject(DeviceError error, byte op, byte tag)
    {
        if (error is DeviceError.HeaderCrc or DeviceError.PayloadCrc)
        {
            _crcError = true;
            _crcErrors++;
        }
        if (_error)
            return;
        _error = true;
        _errorCode = error;
        _errorOp = op;
        _errorTag = tag;
    }

    static bool AllowedWhileError(Opcode op) => op is Opcode.Info or Opcode.GetError or Opcode.ClearError or Opcode.SoftReset;

    static bool HasResponse(Opcode op) => op is Opcode.Info or Opcode.GetError or Opcode.ReadY;

    void Execute(byte[] mosi, Span<byte> miso, long frameStart)
    {
        var op = (Opcode)mosi[0];
        if (op == Opcode.Nop)
            return;
        int argBytes = Tmv.ArgumentBytes(op);
        if (argBytes < 0)
        {
            Reject(DeviceError.UnknownOpcode, mosi[0], mosi.Length > 1 ? mosi[1] : (byte)0);
            return;
        }
        int header = Tmv.HeaderBytes(op);
        byte tag = mosi.Length > 1 ? mosi[1] : (byte)0;
        if (mosi.Length < header)
        {
            Reject(DeviceError.ShortFrame, (byte)op, tag);
            return;
        }
        if (!Crc16.Check(mosi.AsSpan(0, header)))
        {
            Reject(DeviceError.HeaderCrc, (byte)op, tag);
            return;
        }
        var args = mosi.AsSpan(Tmv.OpAndTag, argBytes);
        if (HasResponse(op))
        {
            // Like the gateware, the device decides at the end of the header, while the turnaround byte is on the
            // wire, and streams the response without knowing how long the frame is; a frame that ends early is then
            // rejected with SHORT_FRAME.
            Advance(frameStart + ClocksFor(header));
            var response = new byte[Tmv.ResponsePrefix + ResponseBodyBytes(op, args) + Tmv.CrcBytes];
            var code = Respond(op, tag, args, response.AsSpan(Tmv.ResponsePrefix, response.Length - Tmv.ResponsePrefix - Tmv.CrcBytes));
            if (code != ResponseCode.Ok)
                response.AsSpan(Tmv.ResponsePrefix, response.Length - Tmv.ResponsePrefix - Tmv.CrcBytes).Clear();
            response[0] = (byte)code;
            response[1] = tag;
            Crc16.Seal(response);
            int responseAt = Tmv.ResponseOffset(op);
            if (miso.Length > responseAt)
                response.AsSpan(0, Math.Min(response.Length, miso.Length - responseAt)).CopyTo(miso[responseAt..]);
            if (mosi.Length < responseAt + response.Length)
                Reject(DeviceError.ShortFrame, (byte)op, tag);
            else if (code == ResponseCode.Ok)
                _lastTag = tag;
            return;
        }
        if (_error && !AllowedWhileError(op))
            return;
        if (_work != Work.None && op is not (Opcode.ClearError or Opcode.SoftReset or Opcode.LoadX))
        {
            Reject(DeviceError.Busy, (byte)op, tag);
            return;
        }
        if (Command(op, tag, args, mosi.AsSpan(header), frameStart + ClocksFor(mosi.Length)))
            _lastTag = op == Opcode.SoftReset ? (byte)0 : tag;
    }

    /// <summary>Runs a command without a response; true when it was accepted.</summary>
    bool Command(Opcode op, byte tag, ReadOnlySpan<byte> args, ReadOnlySpan<byte> payload, long frameEnd)
    {
        switch (op)
        {
            case Opcode.DefineSlot:
                return DefineSlot(tag, args);
            case Opcode.LoadWeights:
                return LoadWeights(tag, args, payload);
            case Opcode.CommitWeights:
                return Commit(tag, args, frameEnd);
            case Opcode.LoadX:
                return LoadX(tag, args, payload);
            case Opcode.Run:
                return Run(tag, args, frameEnd);
            case Opcode.ClearError:
                _error = _crcError = _resetFlag = false;
                _errorCode = DeviceError.None;
                _errorOp = _errorTag = 0;
                return true;
            case Opcode.SoftReset:
                if (args[0] != Tmv.ResetKey0 || args[1] != Tmv.ResetKey1)
                {
                    Reject(DeviceError.BadField, (byte)op, tag);
                    return false;
                }
                PowerOnReset();
                return true;
            default:
                Reject(DeviceError.UnknownOpcode, (byte)op, tag);
                return false;
        }
    }

    ResponseCode Respond(Opcode op, byte tag, ReadOnlySpan<byte> args, Span<byte> body)
    {
        if (_error && !AllowedWhileError(op))
            return ResponseCode.Refused;
        switch (op)
        {
            case Opcode.Info:
                _info.Encode(body);
                break;
            case Opcode.GetError:
                body[0] = (byte)_errorCode;
                body[1] = _errorOp;
                body[2] = _errorTag;
                BinaryPrimitives.WriteUInt32LittleEndian(body[4..], _framesSinceReset);
                BinaryPrimitives.WriteUInt32LittleEndian(body[8..], _crcErrors);
                break;
            default:
                var code = ReadY(op, tag, args, body);
                if (code != ResponseCode.Ok)
                    return code;
                break;
        }
        return ResponseCode.Ok;
    }

    /// <summary>
    /// The response body's length m, known to the device at the end of the header: READ_Y's values are in the format
    /// of the RUN that is running or produced the results (int32 after reset), whatever the answer.
    /// </summary>
    int ResponseBodyBytes(Opcode op, ReadOnlySpan<byte> args) => op switch
    {
        Opcode.Info => Tmv.InfoBodyBytes,
        Opcode.GetError => Tmv.ErrorBodyBytes,
        _ => Tmv.ReadYBodyBytes(BinaryPrimitives.ReadUInt16LittleEndian(args[2..]), _work == Work.Run ? _runFormat : _yFormat),
    };

    ResponseCode Refuse(DeviceError error, Opcode op, byte tag)
    {
        Reject(error, (byte)op, tag);
        return ResponseCode.Refused;
    }

    ResponseCode ReadY(Opcode op, byte tag, ReadOnlySpan<byte> args, Span<byte> body)
    {
        if (_work != Work.None)
            return ResponseCode.NotReady;
        if (!_done)
            return Refuse(DeviceError.NoResult, op, tag);
        int offset = BinaryPrimitives.ReadUInt16LittleEndian(args);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(args[2..]);
        if (count == 0 || offset + count > _yRows)
            return Refuse(DeviceError.OutOfRange, op, tag);
        body[0] = _yTag;
        int size = Tmv.ValueBytes(_yFormat);
        for (int i = 0; i < count; i++)
            Tmv.WriteValue(body.Slice(1 + i * size, size), _y[offset + i], _yFormat);
        return ResponseCode.Ok;
    }

    bool DefineSlot(byte tag, ReadOnlySpan<byte> args)
    {
        int slot = args[0];
        long baseAddress = BinaryPrimitives.ReadUInt32LittleEndian(args[1..]);
        int rows = BinaryPrimitives.ReadUInt16LittleEndian(args[5..]);
        int columns = BinaryPrimitives.ReadUInt16LittleEndian(args[7..]);
        if (slot >= _slots.Length || rows == 0 || rows > _info.MaxRows || columns == 0
            || Tmv.PaddedColumns(columns) > _info.MaxColumns || baseAddress % Tmv.SlotAlignment != 0)
            return RejectCommand(DeviceError.BadField, Opcode.DefineSlot, tag);
        var candidate = new Slot { Defined = true, Base = baseAddress, Rows = rows, Columns = columns };
        if (baseAddress + candidate.Bytes > _info.WeightBytes)
            return RejectCommand(DeviceError.BadRegion, Opcode.DefineSlot, tag);
        for (int s = 0; s < _slots.Length; s++)
        {
            var other = _slots[s];
            if (s != slot && other.Defined && baseAddress < other.Base + other.Bytes && other.Base < baseAddress + candidate.Bytes)
                return RejectCommand(DeviceError.BadRegion, Opcode.DefineSlot, tag);
        }
        _slots[slot] = candidate;
        return true;
    }

    bool LoadWeights(byte tag, ReadOnlySpan<byte> args, ReadOnlySpan<byte> payload)
    {
        int slot = args[0];
        long offset = BinaryPrimitives.ReadUInt32LittleEndian(args[1..]);
        int n = BinaryPrimitives.ReadUInt16LittleEndian(args[5..]);
        if (slot >= _slots.Length || n == 0)
            return RejectCommand(DeviceError.BadField, Opcode.LoadWeights, tag);
        ref var s = ref _slots[slot];
        if (!s.Defined)
            return RejectCommand(DeviceError.SlotUndefined, Opcode.LoadWeights, tag);
        if (offset + n > s.Bytes)
            return RejectCommand(DeviceError.OutOfRange, Opcode.LoadWeights, tag);
        // Like the gateware, the data goes to memory as it streams in; a slot being written is never valid.
        s.Valid = false;
        payload[..Math.Min(n, payload.Length)].CopyTo(_weights.AsSpan((int)(s.Base + offset)));
        if (payload.Length < n + Tmv.CrcBytes)
            return RejectCommand(DeviceError.ShortFrame, Opcode.LoadWeights, tag);
        if (!Crc16.Check(payload[..(n + Tmv.CrcBytes)]))
            return RejectCommand(DeviceError.PayloadCrc, Opcode.LoadWeights, tag);
        return true;
    }

    bool Commit(byte tag, ReadOnlySpan<byte> args, long frameEnd)
    {
        int slot = args[0];
        if (slot >= _slots.Length)
            return RejectCommand(DeviceError.BadField, Opcode.CommitWeights, tag);
        if (!_slots[slot].Defined)
            return RejectCommand(DeviceError.SlotUndefined, Opcode.CommitWeights, tag);
        _commitSlot = slot;
        _commitCrc = BinaryPrimitives.ReadUInt32LittleEndian(args[1..]);
        _commitTag = tag;
        StartWork(Work.Commit, frameEnd, Tmv.CommitClocks(_slots[slot].Bytes, _info.OverheadClocks));
        return true;
    }

    void FinishCommit()
    {
        ref var s = ref _slots[_commitSlot];
        uint crc = Crc32.HashToUInt32(_weights.AsSpan((int)s.Base, (int)s.Bytes));
        if (crc == _commitCrc)
            s.Valid = true;
        else
            Reject(DeviceError.WeightCrc, (byte)Opcode.CommitWeights, _commitTag);
    }

    bool LoadX(byte tag, ReadOnlySpan<byte> args, ReadOnlySpan<byte> payload)
    {
        int buffer = args[0];
        int n = BinaryPrimitives.ReadUInt16LittleEndian(args[1..]);
        if (buffer >= _x.Length || n == 0 || n > _info.MaxColumns || n % Tmv.ColumnGranule != 0)
            return RejectCommand(DeviceError.BadField, Opcode.LoadX, tag);
        if (_work == Work.Run && buffer == _runXBuffer)
            return RejectCommand(DeviceError.Busy, Opcode.LoadX, tag);
        if (_work == Work.Commit)
            return RejectCommand(DeviceError.Busy, Opcode.LoadX, tag);
        _xTag[buffer] = 0;
        payload[..Math.Min(n, payload.Length)].CopyTo(_x[buffer]);
        if (payload.Length < n + Tmv.CrcBytes)
            return RejectCommand(DeviceError.ShortFrame, Opcode.LoadX, tag);
        if (!Crc16.Check(payload[..(n + Tmv.CrcBytes)]))
            return RejectCommand(DeviceError.PayloadCrc, Opcode.LoadX, tag);
        _xLength[buffer] = n;
        _xTag[buffer] = tag;
        return true;
    }

    bool Run(byte tag, ReadOnlySpan<byte> args, long frameEnd)
    {
        int slot = args[0], buffer = args[1];
        byte xTag = args[2];
        var format = (OutputFormat)args[3];
        if (slot >= _slots.Length || buffer >= _x.Length
            || !(format == OutputFormat.Int32 || (format == OutputFormat.Int24 && _info.SupportsInt24)))
            return RejectCommand(DeviceError.BadField, Opcode.Run, tag);
        var s = _slots[slot];
        if (!s.Defined || !s.Valid)
            return RejectCommand(DeviceError.SlotNotValid, Opcode.Run, tag);
        if (xTag == 0 || _xTag[buffer] != xTag)
            return RejectCommand(DeviceError.StaleX, Opcode.Run, tag);
        int padded = Tmv.PaddedColumns(s.Columns);
        if (_xLength[buffer] != padded || (format == OutputFormat.Int24 && !Tmv.Int24IsExact(padded)))
            return RejectCommand(DeviceError.Shape, Opcode.Run, tag);
        _done = false;
        _runSlot = slot;
        _runXBuffer = buffer;
        _runTag = tag;
        _runFormat = format;
        StartWork(Work.Run, frameEnd, Tmv.RunClocks(s.Rows, s.Columns, _info.Lanes, _info.OverheadClocks));
        return true;
    }

    /// <summary>
    /// The engine: for every row, the sum over the padded columns of code-decoded weights times int8 activations.
    /// Codes: 0 = −1, 1 = 0, 2 = +1, 3 = reserved (0). Byte j of a 64-byte block holds columns j, j+64, j+128, j+192.
    /// </summary>
    void FinishRun()
    {
        var s = _slots[_runSlot];
        var x = _x[_runXBuffer];
        int rowBytes = Tmv.RowBytes(s.Columns);
        for (int r = 0; r < s.Rows; r++)
        {
            var row = _weights.AsSpan((int)(s.Base + (long)r * rowBytes), rowBytes);
            int acc = 0;
            for (int block = 0; block < rowBytes / 64; block++)
            {
                var bytes = row.Slice(block * 64, 64);
                var xb = x.AsSpan(block * 256, 256);
                for (int j = 0; j < 64; j++)
                {
                    int b = bytes[j];
                    acc += CodeWeight[b & 3] * (sbyte)xb[j] + CodeWeight[(b >> 2) & 3] * (sbyte)xb[64 + j]
                        + CodeWeight[(b >> 4) & 3] * (sbyte)xb[128 + j] + CodeWeight[b >> 6] * (sbyte)xb[192 + j];
                }
            }
            _y[r] = acc;
        }
        _yRows = s.Rows;
        _yTag = _runTag;
        _yFormat = _runFormat;
        _done = true;
    }

    /// <summary>The device's decode of a 2-bit code; 3 is reserved and reads as 0.</summary>
    static ReadOnlySpan<int> CodeWeight => [-1, 0, 1, 0];

    bool RejectCommand(DeviceError error, Opcode op, byte tag)
    {
        Reject(error, (byte)op, tag);
        return false;
    }
}
