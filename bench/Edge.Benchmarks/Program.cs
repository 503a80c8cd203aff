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
        if (args.Length > 0 && ModeCommandLine.IsMode(args[0]))
            return ModeCommandLine.Run(args);
        if (args.Length > 0 && args[0] is "-h" or "--help")
            ModeCommandLine.PrintHelp();
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
