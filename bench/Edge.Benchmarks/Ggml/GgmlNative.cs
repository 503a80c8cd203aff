using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Edge.Benchmarks.Ggml;

/// <summary>
/// The few functions of ggml's C API the peer comparison needs, bound to the native libraries that the
/// LLamaSharp.Backend.Cpu package ships (ggml as of that release). Only this benchmark project calls them;
/// Edge itself never depends on ggml.
/// </summary>
/// <remarks>
/// Values and layouts are those of ggml.h / ggml-cpu.h of the bundled version: <c>GGML_TYPE_TQ1_0 = 34</c>,
/// <c>GGML_TYPE_TQ2_0 = 35</c>; <c>ggml_init_params</c> = { size_t mem_size; void* mem_buffer; bool no_alloc; };
/// <c>ggml_cplan</c> starts with { size_t work_size; uint8_t* work_data; int n_threads; ... }.
/// <see cref="EnsureLoaded"/> checks the type numbers against <c>ggml_type_name</c> so a different bundle fails loudly.
/// </remarks>
static unsafe partial class GgmlNative
{
    const string BaseLibrary = "ggml-base";
    const string CpuLibrary = "ggml-cpu";

    public const int TypeF32 = 0;
    public const int TypeTq1_0 = 34;
    public const int TypeTq2_0 = 35;

    [StructLayout(LayoutKind.Sequential)]
    public struct InitParams
    {
        public nuint MemSize;
        public void* MemBuffer;
        /// <summary>C bool; kept a byte so the struct stays blittable.</summary>
        public byte NoAlloc;
    }

    /// <summary>ggml_cplan; the trailing field exists only in newer versions and is never read here.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ComputePlan
    {
        public nuint WorkSize;
        public byte* WorkData;
        public int Threads;
        public void* ThreadPool;
        public void* AbortCallback;
        public void* AbortCallbackData;
        public byte UseReference;
    }

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_init")]
    public static partial void* Init(InitParams parameters);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_free")]
    public static partial void Free(void* context);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_new_tensor_2d")]
    public static partial void* NewTensor2D(void* context, int type, long columns, long rows);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_get_data")]
    public static partial void* GetData(void* tensor);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_nbytes")]
    public static partial nuint ByteCount(void* tensor);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_row_size")]
    public static partial nuint RowSize(int type, long columns);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_quantize_chunk")]
    public static partial nuint QuantizeChunk(int type, float* source, void* destination, long start, long rows, long columns, float* importance);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_mul_mat")]
    public static partial void* MulMat(void* context, void* a, void* b);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_new_graph_custom")]
    public static partial void* NewGraph(void* context, nuint size, [MarshalAs(UnmanagedType.U1)] bool gradients);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_graph_overhead_custom")]
    public static partial nuint GraphOverhead(nuint size, [MarshalAs(UnmanagedType.U1)] bool gradients);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_tensor_overhead")]
    public static partial nuint TensorOverhead();

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_build_forward_expand")]
    public static partial void BuildForwardExpand(void* graph, void* tensor);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_type_name")]
    public static partial byte* TypeName(int type);

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_version")]
    public static partial byte* Version();

    [LibraryImport(BaseLibrary, EntryPoint = "ggml_commit")]
    public static partial byte* Commit();

    [LibraryImport(CpuLibrary, EntryPoint = "ggml_cpu_init")]
    public static partial void CpuInit();

    [LibraryImport(CpuLibrary, EntryPoint = "ggml_graph_plan")]
    public static partial ComputePlan GraphPlan(void* graph, int threads, void* threadPool);

    [LibraryImport(CpuLibrary, EntryPoint = "ggml_graph_compute")]
    public static partial int GraphCompute(void* graph, ComputePlan* plan);

    static readonly Lazy<string> Loaded = new(Load);

    /// <summary>Loads the libraries for this CPU once; returns "ggml &lt;version&gt; (&lt;commit&gt;), &lt;variant&gt;".</summary>
    public static string EnsureLoaded() => Loaded.Value;

    static string Load()
    {
        string variantFolder = NativeFolder();
        var handles = new Dictionary<string, IntPtr>();
        // ggml-cpu finds ggml-base through its $ORIGIN runpath, but loading both by full path keeps the pair matched.
        foreach (string name in new[] { BaseLibrary, CpuLibrary })
        {
            string path = Path.Combine(variantFolder, $"lib{name}.so");
            if (!File.Exists(path))
                throw new FileNotFoundException($"{path} is missing; restore the LLamaSharp.Backend.Cpu package (dotnet restore bench/Edge.Benchmarks).");
            handles[name] = NativeLibrary.Load(path);
        }
        NativeLibrary.SetDllImportResolver(Assembly.GetExecutingAssembly(),
            (name, _, _) => handles.TryGetValue(name, out var h) ? h : IntPtr.Zero);
        CheckTypeName(TypeTq1_0, "tq1_0");
        CheckTypeName(TypeTq2_0, "tq2_0");
        CpuInit();
        return $"ggml {Marshal.PtrToStringUTF8((IntPtr)Version())} ({Marshal.PtrToStringUTF8((IntPtr)Commit())}), {Path.GetFileName(variantFolder)} build";
    }

    static void CheckTypeName(int type, string expected)
    {
        string? actual = Marshal.PtrToStringUTF8((IntPtr)TypeName(type));
        if (actual != expected)
            throw new InvalidOperationException($"ggml type {type} is \"{actual}\", expected \"{expected}\": the bundled ggml changed its type numbering.");
    }

    /// <summary>The package's folder of libraries built for the best instruction set this CPU has.</summary>
    static string NativeFolder()
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("The ggml comparison is wired up for Linux only.");
        string root = Path.Combine(AppContext.BaseDirectory, "runtimes");
        return RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => Path.Combine(root, "linux-x64", "native",
                Avx512BW.IsSupported && Avx512F.VL.IsSupported ? "avx512" : Avx2.IsSupported ? "avx2" : Avx.IsSupported ? "avx" : "noavx"),
            Architecture.Arm64 => Path.Combine(root, "linux-arm64", "native"),
            var other => throw new PlatformNotSupportedException($"No ggml build for {other} in the package."),
        };
    }
}
