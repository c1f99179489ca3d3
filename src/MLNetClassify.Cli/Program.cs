using System.CommandLine;
using MLNetClassify.Cli.Commands;

using var scratch = MLNetClassify.Cli.ScratchFolder.Enter();
var root = new RootCommand("mlnet-classify: image classification by transfer learning on ML.NET (pretrained CNN features + softmax head).")
{
    CommonOptions.Verbose,
};
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(TrainCommand.CreateRetrain());
root.Subcommands.Add(EvaluateCommand.Create());
root.Subcommands.Add(PredictCommand.Create());
root.Subcommands.Add(ExplainCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(CodegenCommand.Create());
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(FeaturizeCommand.Create());
root.Subcommands.Add(BackbonesCommand.Create());
root.Subcommands.Add(BaselinesCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(BenchCommand.CreateSide());
root.Subcommands.Add(GpuCheckCommand.Create());

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // The user's input: one line per problem and exit code 2, as for any other input error (not the usage page).
    foreach (var error in parsed.Errors)
        Console.Error.WriteLine($"error: {error.Message}");
    var names = new List<string>();
    for (var command = parsed.CommandResult; command is not null; command = command.Parent as System.CommandLine.Parsing.CommandResult)
        names.Insert(0, command.Command.Name);
    Console.Error.WriteLine($"See: {string.Join(' ', names)} --help");
    return Verb.InputError;
}
return await parsed.InvokeAsync();
