using Edge.Format.Text;

namespace Edge.Packer;

/// <summary>
/// A problem with the user's input (checkpoint, options, output path); printed as one line, no stack trace. Messages
/// quote names and values from the checkpoint, which may hold line breaks, so the line is made safe here, once.
/// </summary>
internal sealed class PackerException(string message) : Exception(OneLine.Of(message));
