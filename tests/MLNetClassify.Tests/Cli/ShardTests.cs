using System.Diagnostics;
using System.Text.Json;
using MLNetClassify.Cli.Commands;

namespace MLNetClassify.Tests.Cli;

/// <summary>
/// predict --shard / --out / --merge, and --shard auto, without a scheduler: each task's share, the merge back into one
/// list, and every way a set of results files can fail to make one whole.
/// </summary>
[Collection(LogoModelCollection.Name)]
public class ShardTests(LogoModelFixture fixture)
{
    private static Dictionary<string, string> Env(params (string Name, string Value)[] values) => values.ToDictionary(v => v.Name, v => v.Value);

    [Theory]
    [InlineData("2/4", 2, 4)]
    [InlineData("0/1", 0, 1)]
    public void Parse_IndexOverCount(string text, int index, int count) =>
        Assert.Equal(new Shard(index, count), Shard.Parse(text, Env()));

    [Theory]
    [InlineData("4/4")]
    [InlineData("-1/4")]
    [InlineData("1/0")]
    [InlineData("1")]
    [InlineData("auto/x")]
    public void Parse_Malformed_SaysTheForm(string text) =>
        Assert.Contains("--shard", Assert.Throws<FormatException>(() => Shard.Parse(text, Env())).Message);

    [Fact]
    public void Auto_ReadsSlurmsArrayTask() =>
        Assert.Equal(new Shard(3, 4), Shard.Parse("auto", Env(("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "0"))));

    [Fact]
    public void AutoWithCount_ReadsKubernetesIndex() =>
        Assert.Equal(new Shard(2, 5), Shard.Parse("auto/5", Env(("JOB_COMPLETION_INDEX", "2"))));

    [Fact]
    public void AutoWithCount_RetriedSlurmTask_TakesTheGivenCount() =>
        // sbatch --array=2 (a retry of task 2 of 4): Slurm says count 1, minimum 2; the count comes from the command line.
        Assert.Equal(new Shard(2, 4), Shard.Parse("auto/4", Env(("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "1"), ("SLURM_ARRAY_TASK_MIN", "2"))));

    [Theory]
    [InlineData("auto", "neither is set")]
    [InlineData("auto", "not the count", "JOB_COMPLETION_INDEX", "1")]
    [InlineData("auto", "starts at task 2", "SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_COUNT", "1", "SLURM_ARRAY_TASK_MIN", "2")]
    [InlineData("auto", "step 2", "SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_COUNT", "2", "SLURM_ARRAY_TASK_STEP", "2")]
    [InlineData("auto/3", "not below the count 3", "JOB_COMPLETION_INDEX", "3")]
    [InlineData("auto/3", "not a whole number", "JOB_COMPLETION_INDEX", "one")]
    public void Auto_WithoutAUsableEnvironment_SaysWhatIsMissing(string text, string expected, params string[] pairs)
    {
        var env = Enumerable.Range(0, pairs.Length / 2).ToDictionary(i => pairs[2 * i], i => pairs[2 * i + 1]);
        Assert.Contains(expected, Assert.Throws<FormatException>(() => Shard.Parse(text, env)).Message);
    }

    /// <summary>Runs predict on <paramref name="images"/> as <paramref name="count"/> shard tasks; returns their results files.</summary>
    private List<string> RunShards(string dir, int count, params string[] images) =>
        Enumerable.Range(0, count).Select(i => RunShard(dir, i, count, images)).ToList();

    private string RunShard(string dir, int index, int count, params string[] images)
    {
        var file = Path.Combine(dir, $"predictions.{index}.jsonl");
        var run = CliRunner.Run(["predict", "--model", fixture.ModelPath, "--shard", $"{index}/{count}", "--out", file, "--json", .. images]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var summary = JsonDocument.Parse(run.StdoutLines.Single()).RootElement;
        Assert.Equal($"{index}/{count}", summary.GetProperty("shard").GetString());
        return file;
    }

    [Fact]
    public void Shards_Merged_EqualOnePredictOverTheSameImages_WithErrorsInPlace()
    {
        var dir = TestPaths.NewTempDirectory();
        var bad = Path.Combine(dir, "not-an-image.jpg");
        File.WriteAllText(bad, "text");
        var single = CliRunner.Run(["predict", "--model", fixture.ModelPath, "--json", fixture.DataDirectory, bad]);
        Assert.Equal(0, single.ExitCode);

        var files = RunShards(dir, 3, fixture.DataDirectory, bad);
        var merged = Path.Combine(dir, "merged.jsonl");
        var merge = CliRunner.Run(["predict", "--merge", .. files, "--out", merged]);
        Assert.True(merge.ExitCode == 0, merge.Stderr);
        Assert.Equal(single.Stdout.Replace("\r", ""), File.ReadAllText(merged));
        Assert.Equal(fixture.Images.Count + 1, File.ReadAllLines(merged).Length);
        Assert.Contains("\"error\"", File.ReadAllLines(merged)[^1]);
        // Without --out the merge goes to stdout; files given in another order merge the same.
        Assert.Equal(single.Stdout, CliRunner.Run(["predict", "--merge", files[2], files[0], files[1]]).Stdout);
    }

    [Fact]
    public void Merge_MissingRepeatedDamagedOrForeignShards_AreNamed_AndNothingIsWritten()
    {
        var dir = TestPaths.NewTempDirectory();
        var files = RunShards(dir, 3, fixture.DataDirectory);
        var merged = Path.Combine(dir, "merged.jsonl");

        string Fails(params string[] inputs)
        {
            var run = CliRunner.Run(["predict", "--merge", .. inputs, "--out", merged]);
            Assert.Equal(2, run.ExitCode);
            Assert.False(File.Exists(merged));
            return run.Stderr;
        }

        Assert.Contains("missing shard 1/3", Fails(files[0], files[2]));
        Assert.Contains("shard 0/3 is given twice", Fails(files[0], files[0], files[1], files[2]));
        Assert.Contains("no-such.jsonl", Fails(files[0], files[1], Path.Combine(dir, "no-such.jsonl")));

        var cut = Path.Combine(dir, "cut.jsonl");
        File.WriteAllLines(cut, File.ReadAllLines(files[1])[..^2]);
        Assert.Contains($"{cut}: {File.ReadAllLines(cut).Length - 1} prediction lines where its header says", Fails(files[0], cut, files[2]));

        var garbled = Path.Combine(dir, "garbled.jsonl");
        var lines = File.ReadAllLines(files[1]);
        lines[3] = lines[3][..20];
        File.WriteAllLines(garbled, lines);
        Assert.Contains($"{garbled} line 4: not a prediction line", Fails(files[0], garbled, files[2]));

        var headless = Path.Combine(dir, "headless.jsonl");
        File.WriteAllLines(headless, File.ReadAllLines(files[1]).Skip(1));
        Assert.Contains("not a results file of predict --out", Fails(files[0], headless, files[2]));

        // A task that ran with another count, or over another list of images, is not merged with the others.
        var other = RunShards(TestPaths.NewTempDirectory(), 2, fixture.DataDirectory);
        Assert.Contains("shards of different counts", Fails(files[0], files[1], files[2], other[1]));
        var fewer = RunShards(TestPaths.NewTempDirectory(), 3, Path.Combine(fixture.DataDirectory, "logo"));
        Assert.Contains("different lists of images", Fails(files[0], files[1], fewer[2]));
    }

    [SkippableFact]
    public void KilledTask_LeavesNoResultsFile_AndItsRerunMergesCorrectly()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "kills a process by id");
        var dir = TestPaths.NewTempDirectory();
        var images = Path.Combine(dir, "images");
        TestImages.LogoFolder(images, perClass: 60, seed: 21, size: 160);
        var files = RunShards(dir, 2, images);
        var expected = CliRunner.Run(["predict", "--merge", .. files]).Stdout;
        File.Delete(files[1]);

        // Task 1 again, killed while it writes its results: no results file, only its temporary file.
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "mlnet-classify.dll"), "predict", "--model", fixture.ModelPath, "--shard", "1/2", "--out", files[1], images })
            start.ArgumentList.Add(a);
        using (var task = Process.Start(start)!)
        {
            var clock = Stopwatch.StartNew();
            while (Directory.GetFiles(dir, ".predictions.1.jsonl.*.tmp").Length == 0 && !task.HasExited && clock.Elapsed < TimeSpan.FromMinutes(1))
                Thread.Sleep(20);
            Thread.Sleep(300); // past the empty probe file that checks the folder is writable: into the scoring (60 images, ~2 s)
            Assert.False(task.HasExited, "the task ended before it could be killed");
            task.Kill();
            task.WaitForExit();
        }
        Assert.False(File.Exists(files[1]));
        Assert.Single(Directory.GetFiles(dir, ".predictions.1.jsonl.*.tmp"));
        var incomplete = CliRunner.Run(["predict", "--merge", .. files]);
        Assert.Equal(2, incomplete.ExitCode);
        Assert.Contains("predictions.1.jsonl: not found", incomplete.Stderr);

        // The re-run writes the whole results file, clears the killed task's temporary file, and the merge is whole.
        var before = File.GetLastWriteTimeUtc(files[0]);
        RunShard(dir, 1, 2, images);
        Assert.Equal(before, File.GetLastWriteTimeUtc(files[0]));
        Assert.Empty(Directory.GetFiles(dir, ".predictions.*.tmp"));
        Assert.Equal(expected, CliRunner.Run(["predict", "--merge", .. files]).Stdout);
    }
}
