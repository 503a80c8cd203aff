using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Edge.Cli.Commands;

/// <summary>
/// Which instruction sets this executable may use, and whether the CPU would allow a faster build.
/// NativeAOT on x64 compiles <c>Avx2.IsSupported</c> and <c>Avx512BW.IsSupported</c> to constants taken from the
/// build's baseline (x86-64-v2 unless raised), so an AVX2 CPU running the baseline build silently gets the slow
/// vector128 kernel; this names the build that would use avx2. On arm64, dot-product is a run-time check in every build.
/// </summary>
static class BuildTarget
{
    public static void Describe(TextWriter o)
    {
        if (X86Base.IsSupported)
        {
            o.WriteLine($"build: x64 vector instructions in use up to {(Avx512BW.IsSupported ? "x86-64-v4 (AVX-512)" : Avx2.IsSupported ? "x86-64-v3 (AVX2)" : "x86-64-v2 (SSE4.2)")}{(Avx512Vbmi.IsSupported ? " with AVX-512 VBMI" : "")}");
            if (CpuOffersAvx2() && !Avx2.IsSupported)
                o.WriteLine("hint: this CPU also has AVX2; the linux-x64 build's avx2 kernel is several times faster");
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

    // CPUID leaf 7, EBX bit 5: AVX2. Asked directly because a NativeAOT build's Avx2.IsSupported only says what
    // the build allows.
    static bool CpuOffersAvx2() => X86Base.CpuId(0, 0).Eax >= 7 && (X86Base.CpuId(7, 0).Ebx & (1 << 5)) != 0;
}
