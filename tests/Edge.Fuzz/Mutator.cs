using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace Edge.Fuzz;

/// <summary>
/// Mutations of an input: the generic byte-level ones (bit flips, boundary integers, chunk deletion, duplication,
/// insertion, truncation, splicing with another corpus entry) plus structure-aware ones chosen by the target: JSON
/// numbers replaced by boundary values, strings given invalid UTF-8 or lone surrogates, and CRCs recomputed after a
/// change so the parser gets past its checksum and meets the lying field itself.
/// </summary>
public sealed class Mutator(Random random)
{
    static readonly long[] BoundaryIntegers =
    [
        0, 1, -1, 2, 63, 64, 255, 256, 4095, 65535, 65536, int.MaxValue, int.MinValue, 2147483392, 2147483393,
        uint.MaxValue, 1L << 40, (1L << 40) + 1, long.MaxValue, long.MinValue, long.MaxValue - 7, 1L << 62,
    ];

    static readonly string[] BoundaryNumbers =
    [
        "0", "-1", "1", "2147483647", "2147483648", "2147483393", "4294967296", "1099511627776", "9223372036854775807",
        "9223372036854775800", "18446744073709551615", "1e400", "-0", "0.5", "1e-400", "65536", "4097",
    ];

    public Random Random => random;

    public byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, bool json)
    {
        var data = new List<byte>(input);
        int rounds = 1 + random.Next(4);
        for (int r = 0; r < rounds; r++)
        {
            if (json && random.Next(2) == 0)
                MutateJson(data);
            else
                MutateBytes(data, corpus);
        }
        return [.. data];
    }

    void MutateBytes(List<byte> d, IReadOnlyList<byte[]> corpus)
    {
        if (d.Count == 0)
        {
            d.Add((byte)random.Next(256));
            return;
        }
        switch (random.Next(9))
        {
            case 0:
                d[random.Next(d.Count)] ^= (byte)(1 << random.Next(8));
                break;
            case 1:
                d[random.Next(d.Count)] = (byte)random.Next(256);
                break;
            case 2:
                WriteInteger(d, random.Next(d.Count), BoundaryIntegers[random.Next(BoundaryIntegers.Length)], 1 << random.Next(4));
                break;
            case 3:
            {
                int at = random.Next(d.Count);
                d.RemoveRange(at, Math.Min(d.Count - at, 1 + random.Next(Math.Min(64, d.Count))));
                break;
            }
            case 4:
            {
                int at = random.Next(d.Count), n = Math.Min(d.Count - at, 1 + random.Next(64));
                d.InsertRange(random.Next(d.Count + 1), d.GetRange(at, n));
                break;
            }
            case 5:
                d.InsertRange(random.Next(d.Count + 1), Enumerable.Range(0, 1 + random.Next(16)).Select(_ => (byte)random.Next(256)));
                break;
            case 6:
            {
                int keep = random.Next(d.Count);
                d.RemoveRange(keep, d.Count - keep);
                break;
            }
            case 7:
            {
                var other = corpus[random.Next(corpus.Count)];
                if (other.Length == 0)
                    break;
                int from = random.Next(other.Length), n = Math.Min(other.Length - from, 1 + random.Next(256));
                int at = random.Next(d.Count);
                for (int i = 0; i < n; i++)
                {
                    if (at + i < d.Count)
                        d[at + i] = other[from + i];
                    else
                        d.Add(other[from + i]);
                }
                break;
            }
            default:
            {
                // An aligned 8-byte field: the header and tensor-table integers of the model file sit on these.
                int at = random.Next(d.Count / 8 + 1) * 8;
                WriteInteger(d, at, BoundaryIntegers[random.Next(BoundaryIntegers.Length)], 8);
                break;
            }
        }
    }

    void WriteInteger(List<byte> d, int at, long value, int width)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value + random.Next(3) - 1);
        for (int i = 0; i < width && at + i < d.Count; i++)
            d[at + i] = bytes[i];
    }

    void MutateJson(List<byte> d)
    {
        string text = Encoding.Latin1.GetString([.. d]);
        var numbers = new List<(int Start, int Length)>();
        for (int i = 0; i < text.Length; i++)
        {
            if (!(char.IsAsciiDigit(text[i]) || text[i] == '-') || (i > 0 && char.IsAsciiLetterOrDigit(text[i - 1])))
                continue;
            int j = i + 1;
            while (j < text.Length && (char.IsAsciiDigit(text[j]) || text[j] is '.' or 'e' or 'E' or '+' or '-'))
                j++;
            numbers.Add((i, j - i));
            i = j;
        }
        var quotes = Enumerable.Range(0, text.Length).Where(i => text[i] == '"').ToList();
        switch (random.Next(5))
        {
            case 0 or 1 when numbers.Count > 0:
            {
                var (start, length) = numbers[random.Next(numbers.Count)];
                d.RemoveRange(start, length);
                d.InsertRange(start, Encoding.ASCII.GetBytes(BoundaryNumbers[random.Next(BoundaryNumbers.Length)]));
                break;
            }
            case 2 when quotes.Count > 0:
                d.Insert(quotes[random.Next(quotes.Count)] + 1, (byte)(0x80 + random.Next(0x80))); // invalid UTF-8
                break;
            case 3 when quotes.Count > 0:
                d.InsertRange(quotes[random.Next(quotes.Count)] + 1, "\\ud800"u8.ToArray());
                break;
            default:
            {
                // Duplicate a "key": value run, so names and entries repeat.
                if (quotes.Count < 2)
                    break;
                int q = random.Next(quotes.Count - 1);
                int a = quotes[q], b = Math.Min(d.Count, quotes[q + 1] + 1 + random.Next(48));
                d.InsertRange(a, d.GetRange(a, b - a).Append((byte)','));
                break;
            }
        }
    }

    /// <summary>Recomputes the model file's header and block CRCs where the fields it names still fit the input.</summary>
    public static void ResealModelFile(byte[] b)
    {
        if (b.Length < 64)
            return;
        ulong metaLength = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(24));
        ulong tableStart = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(32));
        ulong tableLength = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(40));
        if (metaLength <= (ulong)b.Length - 64 && tableStart <= (ulong)b.Length && tableLength <= (ulong)b.Length - tableStart)
        {
            var crc = new Crc32();
            crc.Append(b.AsSpan(64, (int)metaLength));
            crc.Append(b.AsSpan((int)tableStart, (int)tableLength));
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(52), crc.GetCurrentHashAsUInt32());
        }
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(60), Crc32.HashToUInt32(b.AsSpan(0, 60)));
    }
}
