using BenchmarkDotNet.Running;

namespace Edge.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project bench/Edge.Benchmarks -- compare</c> prints the quick side-by-side table;
/// <c>-- peak</c> the int8 multiply-add ceiling and the batched kernels' rates; <c>-- interleave A.edge B.edge</c> two
/// models alternating token by token in one process; any other arguments go to
/// BenchmarkDotNet (e.g. <c>-- --filter *Gemv*</c>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "compare")
            return CompareMode.Run(args[1..]);
        if (args.Length > 0 && args[0] == "peak")
            return PeakMode.Run(args[1..]);
        if (args.Length > 0 && args[0] == "interleave")
            return InterleaveMode.Run(args[1..]);
        if (args.Length > 0 && args[0] is "-h" or "--help")
        {
            Console.WriteLine(CompareMode.Usage);
            Console.WriteLine(PeakMode.Usage);
            Console.WriteLine(InterleaveMode.Usage);
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
