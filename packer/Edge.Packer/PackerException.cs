namespace Edge.Packer;

/// <summary>A problem with the user's input (checkpoint, options, output path); printed as one line, no stack trace.</summary>
internal sealed class PackerException(string message) : Exception(message);
