using System.Runtime.CompilerServices;

namespace Edge.Runtime.Kernels;

/// <summary>
/// A buffer on the pinned object heap that starts on a 64-byte boundary: kernels read activations through raw
/// pointers (<see cref="TernaryProduct"/>), and a 32- or 64-byte load that straddles two cache lines costs two.
/// </summary>
internal sealed unsafe class AlignedBuffer<T> where T : unmanaged
{
    const int Alignment = 64;
    readonly T[] _storage;
    readonly int _offset;

    public AlignedBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _storage = GC.AllocateArray<T>(length + Alignment / sizeof(T), pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref _storage[0]);
        _offset = (int)((Alignment - address % Alignment) % Alignment) / sizeof(T);
        if (((nint)Pointer) % Alignment != 0)
            throw new NotSupportedException($"{typeof(T).Name} elements cannot be placed on a {Alignment}-byte boundary.");
        Length = length;
    }

    public int Length { get; }

    public Span<T> Span => _storage.AsSpan(_offset, Length);

    /// <summary>Element 0; valid for the buffer's lifetime (the array never moves).</summary>
    public T* Pointer => (T*)Unsafe.AsPointer(ref _storage[_offset]);
}
