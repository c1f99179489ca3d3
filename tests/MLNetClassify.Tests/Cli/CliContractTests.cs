using System.Text.Json;
using MLNetClassify.Cli;
using MLNetClassify.Cli.Commands;

namespace MLNetClassify.Tests.Cli;

/// <summary>Exit codes, option validation and stdout discipline: the CLI's contract with scripts.</summary>
public class CliContractTests
{
    [Theory]
    [InlineData("--top", "predict", "--model", "m.zip", "--top", "0", "a.jpg")]
    [InlineData("--top", "predict", "--model", "m.zip", "--top", "-1", "a.jpg")]
    [InlineData("--shard", "featurize", "--data", ".", "--shard", "2/2")]
    [InlineData("--shard", "featurize", "--data", ".", "--shard", "x")]
    [InlineData("--shard", "predict", "--model", "m.zip", "--shard", "4/4", "a.jpg")]
    [InlineData("SLURM_ARRAY_TASK_ID", "predict", "--model", "m.zip", "--shard", "auto", "a.jpg")]
    [InlineData("--hidden", "baselines", "--data", ".", "--hidden", "256,0")]
    [InlineData("--hidden", "baselines", "--data", ".", "--hidden", "a")]
    [InlineData("cpu, cuda or cuda:N", "train", "--data", ".", "--model", "m.zip", "--device", "tpu")]
    [InlineData("--limit", "bench", "--data", ".", "--limit", "5")]
    [InlineData("--epochs", "train", "--data", ".", "--model", "m.zip", "--epochs", "0")]
    [InlineData("--test-fraction", "train", "--data", ".", "--model", "m.zip", "--test-fraction", "1.5")]
    [InlineData("--input-size", "train", "--data", ".", "--model", "m.zip", "--input-size", "2")]
    [InlineData("--batch", "gpu-check", "--batch", "0")]
    [InlineData("--max-relative-l2", "gpu-check", "--max-relative-l2", "0")]
    [InlineData("--tf32", "evaluate", "--model", "m.zip", "--data", ".", "--row-by-row", "--tf32")]
    [InlineData("Float64", "train", "--data", ".", "--model", "m.zip", "--weights", "Float64")]
    public void OutOfRangeOption_IsExitCode2_NamingIt_NeverClamped(string named, params string[] args)
    {
        var run = CliRunner.Run(args);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(named, run.Stderr);
        Assert.StartsWith("error: ", run.Stderr);
        Assert.Equal("", run.Stdout);
    }

    [Fact]
    public void MissingDataFolder_IsExitCode2_WithAOneLineMessage()
    {
        var run = CliRunner.Run(["train", "--data", "/nonexistent-folder", "--model", "m.zip"]);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("error: Data folder not found: /nonexistent-folder", run.Stderr.Trim());
    }

    [Fact]
    public void UnexpectedException_IsExitCode1_NamingItsType_AndTheStackOnlyWithVerbose()
    {
        var stderr = Console.Error;
        try
        {
            var quiet = new StringWriter();
            Console.SetError(quiet);
            Assert.Equal(Verb.Unexpected, Verb.Run(() => throw new NullReferenceException("boom"), verbose: false));
            Assert.Contains("unexpected System.NullReferenceException: boom", quiet.ToString());
            Assert.Contains("--verbose", quiet.ToString());
            Assert.DoesNotContain(" at ", quiet.ToString());

            var loud = new StringWriter();
            Console.SetError(loud);
            Assert.Equal(Verb.Unexpected, Verb.Run(() => throw new NullReferenceException("boom"), verbose: true));
            Assert.Contains(" at ", loud.ToString()); // the stack
        }
        finally
        {
            Console.SetError(stderr);
        }
    }

    [Theory]
    [InlineData(typeof(ArgumentException), 2)]
    [InlineData(typeof(FileNotFoundException), 2)]
    [InlineData(typeof(DirectoryNotFoundException), 2)]
    [InlineData(typeof(InvalidDataException), 2)]
    [InlineData(typeof(FormatException), 2)]
    [InlineData(typeof(MLNetClassify.Data.UnsuitableInputException), 2)]
    [InlineData(typeof(OperationCanceledException), 130)]
    [InlineData(typeof(InvalidOperationException), 1)]
    [InlineData(typeof(IOException), 1)]
    [InlineData(typeof(NotSupportedException), 1)]
    public void ExitCode_FollowsTheExceptionKind(Type exception, int expected)
    {
        var stderr = Console.Error;
        try
        {
            Console.SetError(new StringWriter());
            Assert.Equal(expected, Verb.Run(() => throw (Exception)Activator.CreateInstance(exception, "x")!, verbose: false));
        }
        finally
        {
            Console.SetError(stderr);
        }
    }

    [Fact]
    public void EpochLine_NamesEveryPhase_AndLeavesNoValidationFieldEmpty()
    {
        var validated = new MLNetClassify.Learning.EpochMetrics(3, 0.5, 0.8, 0.6, 0.75, 1e-3, true);
        var refit = validated with { ValidationLoss = null, ValidationAccuracy = null };
        var lines = new[]
        {
            Output.EpochLine(validated),
            Output.EpochLine(validated with { Phase = MLNetClassify.Learning.EpochPhase.NewClasses }),
            Output.EpochLine(refit with { Phase = MLNetClassify.Learning.EpochPhase.Refit }),
            Output.EpochLine(refit with { Phase = MLNetClassify.Learning.EpochPhase.RefitNewClasses }),
        };
        Assert.Equal("epoch 3: loss 0.5000, validation loss 0.6000, validation accuracy 0.750", lines[0]);
        Assert.Equal("new classes, epoch 3: loss 0.5000, validation loss 0.6000, validation accuracy 0.750", lines[1]);
        Assert.Equal("refit on all training rows, epoch 3: loss 0.5000", lines[2]);
        Assert.Equal("refit on all training rows, new classes, epoch 3: loss 0.5000", lines[3]);
    }

    [Fact]
    public void GpuCheck_Json_KeepsStdoutToOneJsonLine()
    {
        // On the CPU (required, so nothing falls back): the comparison and the throughput table still run.
        var run = CliRunner.Run(["gpu-check", "--device", "cpu", "--images", "8", "--batch", "4", "--dir", Path.Combine(TestPaths.NewTempDirectory(), "g"), "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var line = Assert.Single(run.StdoutLines);
        var json = JsonDocument.Parse(line).RootElement;
        Assert.True(json.GetProperty("agree").GetBoolean());
        Assert.Equal([false, true], json.GetProperty("agreement").EnumerateArray().Select(a => a.GetProperty("tf32").GetBoolean()));
        Assert.Equal(0, json.GetProperty("agreement")[0].GetProperty("worst_relative_l2").GetDouble());
        var rows = json.GetProperty("throughput").EnumerateArray().ToList();
        Assert.Equal([false, true], rows.Select(r => r.GetProperty("tf32").GetBoolean()));
        Assert.All(rows, r => Assert.Equal(4, r.GetProperty("batch").GetInt32()));
        Assert.All(rows, r => Assert.True(r.GetProperty("decode_ms_per_batch").GetDouble() > 0 && r.GetProperty("inference_ms_per_batch").GetDouble() > 0));
        Assert.All(rows, r => Assert.True(r.GetProperty("model_ms").GetDouble() > 0, "the inference call taken apart"));
        Assert.Contains("| batch |", run.Stderr);
    }
}
