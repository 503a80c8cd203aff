namespace Edge.Format.Container;

/// <summary>A whole file's bytes at one address, mapped (<see cref="ReadOnlyMapping"/>) or read (<see cref="InMemoryFile"/>); valid until disposal.</summary>
internal unsafe interface IFileView : IDisposable
{
    byte* Pointer { get; }
}
