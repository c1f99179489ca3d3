using System.CommandLine;
using MLNetClassify.Cli.Commands;

var root = new RootCommand("mlnet-classify: image classification by transfer learning on ML.NET (pretrained CNN features + softmax head).");
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(EvaluateCommand.Create());
root.Subcommands.Add(PredictCommand.Create());
root.Subcommands.Add(FeaturizeCommand.Create());
root.Subcommands.Add(BackbonesCommand.Create());
root.Subcommands.Add(BaselinesCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(BenchCommand.CreateSide());
root.Subcommands.Add(GpuCheckCommand.Create());
return await root.Parse(args).InvokeAsync();
