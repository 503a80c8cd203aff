using System.CommandLine;
using Edge.Offload;
using Edge.Runtime;

namespace Edge.Cli.Commands;

/// <summary><c>--offload</c> and <c>--offload-layers</c>: optional FPGA offload of BitLinear layers (docs/fpga-protocol.md).</summary>
sealed class OffloadCliOptions
{
    public Option<string?> Target { get; } = new("--offload")
    {
        Description = "Offload ternary layers to an FPGA: spi:B.C@FREQ (e.g. spi:0.0@12MHz), emu, or rtl:PATH (the gateware, simulated). Experimental; over SPI it is slower than the CPU",
    };

    public Option<string> Layers { get; } = new("--offload-layers")
    {
        Description = "Layers to offload: fit, a block range like 0-3, or tensor-name globs like model.layers.*.attn.o_proj",
        DefaultValueFactory = _ => "fit",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Target);
        command.Options.Add(Layers);
    }

    /// <summary>True when --offload is given: the model must then be loaded with 2-bit matrices only.</summary>
    public bool Requested(ParseResult parse) => !string.IsNullOrWhiteSpace(parse.GetValue(Target));

    /// <summary>Attaches the device when --offload is given (uploading and verifying the weights); null otherwise.</summary>
    public OffloadSession? Attach(ParseResult parse, EdgeModel model, TextWriter stderr)
    {
        string? target = parse.GetValue(Target);
        if (string.IsNullOrWhiteSpace(target))
            return null;
        var session = OffloadSession.Attach(model.Model, target, parse.GetValue(Layers)!, w => stderr.WriteLine($"edge: warning: {w}"));
        stderr.WriteLine($"edge: {session.Describe()}");
        return session;
    }
}
