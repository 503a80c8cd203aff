using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Edge.Cli.Commands;

/// <summary>
/// Which instruction sets this executable may use, and whether the CPU would allow a faster build.
/// NativeAOT on x64 compiles <c>Avx2.IsSupported</c> and <c>Avx512BW.IsSupported</c> to constants taken from the
/// build's baseline (x86-64-v2 unless raised), so an AVX-512 CPU running the baseline build silently gets the slow
/// kernels; this names the build that would use them. On arm64, dot-product is a run-time check in every build.
/// </summary>
static class BuildTarget
{
    public static void Describe(TextWriter o)
    {
        if (X86Base.IsSupported)
        {
            o.WriteLine($"build: x64 vector instructions in use up to {(Avx512BW.IsSupported ? "x86-64-v4 (AVX-512)" : Avx2.IsSupported ? "x86-64-v3 (AVX2)" : "x86-64-v2 (SSE4.2)")}");
            string? better = CpuOffersAvx512() && !Avx512BW.IsSupported ? "AVX-512: the linux-x64-avx512 build uses it"
                : CpuOffersAvx2() && !Avx2.IsSupported ? "AVX2: the linux-x64 build uses it"
                : null;
            if (better is not null)
                o.WriteLine($"hint: this CPU also has {better}");
        }
        else if (AdvSimd.IsSupported)
        {
            o.WriteLine($"build: arm64 NEON, dot-product (SDOT) {(Dp.IsSupported ? "present" : "absent")} (checked at run time)");
        }
        else
        {
            o.WriteLine($"build: {RuntimeInformation.ProcessArchitecture} without SIMD kernels");
        }
    }

    // CPUID leaf 7 (EBX): bit 5 AVX2; bits 16, 17, 28, 30, 31 are AVX-512 F, DQ, CD, BW, VL, i.e. x86-64-v4.
    static int Leaf7Ebx() => X86Base.CpuId(0, 0).Eax >= 7 ? X86Base.CpuId(7, 0).Ebx : 0;

    static bool CpuOffersAvx2() => (Leaf7Ebx() & (1 << 5)) != 0;

    static bool CpuOffersAvx512()
    {
        const int v4 = (1 << 16) | (1 << 17) | (1 << 28) | (1 << 30) | (1 << 31);
        return (Leaf7Ebx() & v4) == v4;
    }
}
