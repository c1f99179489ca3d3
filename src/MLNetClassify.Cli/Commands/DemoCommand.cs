using System.CommandLine;

namespace MLNetClassify.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create() => new("demo", "placeholder");
}
