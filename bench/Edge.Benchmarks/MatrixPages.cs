using System.Runtime.InteropServices;
using Edge.Format.Container;

namespace Edge.Benchmarks;

/// <summary>
/// The pages the benchmark's matrices lie in, for every engine alike. Huge (the default) is where Edge's weights are
/// by default: a mapped file the file system keeps in huge folios (one edge-pack wrote) or a <c>--no-mmap</c> copy.
/// Small is 4 KiB pages (unless the kernel's transparent huge pages are "always"), as a file copied with cp is mapped.
/// </summary>
enum MatrixPages
{
    Huge,
    Small,
}

static unsafe class MatrixMemory
{
    public static byte* Allocate(long bytes, MatrixPages pages) =>
        pages == MatrixPages.Huge ? HugePages.Allocate(bytes, out _) : (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), 64);

    public static void Free(byte* pointer, MatrixPages pages)
    {
        if (pages == MatrixPages.Huge)
            HugePages.Free(pointer);
        else
            NativeMemory.AlignedFree(pointer);
    }
}
