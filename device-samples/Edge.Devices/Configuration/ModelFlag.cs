namespace Edge.Devices.Configuration;

/// <summary>
/// <c>-m FILE</c> / <c>--model FILE</c> / <c>--model=FILE</c>, the model flag of the <c>edge</c> command, as the
/// configuration key <c>--Model:Path=FILE</c> that the host's command-line provider reads.
/// </summary>
public static class ModelFlag
{
    public static string[] ToConfiguration(string[] args)
    {
        var result = new List<string>(args.Length);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "-m" or "--model")
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith('-'))
                    throw new ArgumentException($"{a} needs a model file, e.g. {a} models/kjv-brown-36m.edge.");
                result.Add("--Model:Path=" + args[++i]);
            }
            else if (a.StartsWith("--model=", StringComparison.Ordinal))
                result.Add("--Model:Path=" + a["--model=".Length..]);
            else
                result.Add(a);
        }
        return [.. result];
    }
}
