namespace Edge.Packer;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("edge-pack: not implemented yet");
        return 1;
    }
}
