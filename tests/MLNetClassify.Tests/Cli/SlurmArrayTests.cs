using System.Diagnostics;
using System.Text.Json;

namespace MLNetClassify.Tests.Cli;

/// <summary>
/// predict as a real Slurm job array (deploy/slurm/predict-array.sbatch) on the one-node cluster that .ci/run starts
/// (deploy/slurm/one-node-cluster.sh); skipped, saying why, where no cluster answers.
/// </summary>
[Collection(LogoModelCollection.Name)]
public class SlurmArrayTests(LogoModelFixture fixture)
{
    private static readonly string Script = Path.Combine(TestPaths.RepoRoot, "deploy", "slurm", "predict-array.sbatch");

    /// <summary>Why no Slurm job can run here, or null when a node is up.</summary>
    private static string? NoCluster()
    {
        try
        {
            var sinfo = CliRunner.Process("sinfo", ["-h", "-N", "-o", "%T"], TestPaths.RepoRoot);
            if (sinfo.ExitCode != 0)
                return $"Slurm does not answer (sinfo: {sinfo.Stderr.Trim()}); as root, deploy/slurm/one-node-cluster.sh install && start (what .ci/run does).";
            return sinfo.Stdout.Split('\n').Any(s => s.Trim() is "idle" or "mixed" or "allocated")
                ? null
                : $"no Slurm node is up (sinfo: {sinfo.Stdout.Trim()}); deploy/slurm/one-node-cluster.sh start.";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "Slurm is not installed (no sinfo on PATH); as root, deploy/slurm/one-node-cluster.sh install && start (what .ci/run does).";
        }
    }

    private static Dictionary<string, string> TaskEnvironment(string? shards = null)
    {
        var env = new Dictionary<string, string>
        {
            ["MLNET_CLASSIFY"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "mlnet-classify.dll")}",
            ["MLNETCLASSIFY_CACHE"] = CliRunner.TestCache,
        };
        if (shards is not null) env["SHARDS"] = shards;
        return env;
    }

    /// <summary>
    /// Submits an array job and waits for all its tasks (polling scontrol, quicker than sbatch --wait's backing-off
    /// poll); returns each task's final state, e.g. COMPLETED.
    /// </summary>
    private static List<string> SubmitAndWait(string dir, string array, string output, string? shards, params string[] arguments)
    {
        var submit = CliRunner.Process("sbatch", ["--parsable", $"--array={array}", $"--output={dir}/{output}-%A_%a.out", Script, .. arguments], dir, TaskEnvironment(shards));
        Assert.True(submit.ExitCode == 0, $"sbatch: {submit.Stdout}{submit.Stderr}");
        return WaitFor(submit.Stdout.Trim(), dir);
    }

    private static List<string> WaitFor(string job, string dir)
    {
        string[] final = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"];
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var show = CliRunner.Process("scontrol", ["-o", "show", "job", job], dir);
            var states = show.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(' ').First(f => f.StartsWith("JobState=", StringComparison.Ordinal))["JobState=".Length..]).ToList();
            if (states.Count > 0 && states.All(final.Contains)) return states;
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(4), $"job {job} still running after 4 minutes: {show.Stdout}");
            Thread.Sleep(250);
        }
    }

    [SkippableFact]
    public void ArrayOfFourTasks_MergesIntoOneProcessesPredictions_AndAKilledTaskRerunMergesCorrectly()
    {
        var why = NoCluster();
        Skip.If(why is not null, why);
        var dir = TestPaths.NewTempDirectory();
        var images = Path.Combine(dir, "images");
        TestImages.LogoFolder(images, perClass: 150, seed: 31, size: 160);
        File.WriteAllText(Path.Combine(images, "logo", "zz-not-an-image.jpg"), "text");
        var single = CliRunner.Run(["predict", "--model", fixture.ModelPath, "--json", images]);
        Assert.Equal(0, single.ExitCode);
        Assert.Equal(301, single.StdoutLines.Count);

        var results = Path.Combine(dir, "results");
        var files = Enumerable.Range(0, 4).Select(i => Path.Combine(results, $"predictions.{i}.jsonl")).ToArray();
        var states = SubmitAndWait(dir, "0-3", "slurm", null, fixture.ModelPath, results, images);
        Assert.True(states.All(s => s == "COMPLETED"), string.Join(", ", states) + string.Concat(Directory.GetFiles(dir, "slurm-*.out").Select(File.ReadAllText)));
        var summaries = Directory.GetFiles(dir, "slurm-*.out").Select(f => JsonDocument.Parse(File.ReadAllLines(f).Last(l => l.StartsWith('{'))).RootElement).ToList();
        Assert.Equal(["0/4", "1/4", "2/4", "3/4"], summaries.Select(s => s.GetProperty("shard").GetString()!).Order());
        Assert.Equal(301, summaries.Sum(s => s.GetProperty("images").GetInt32()));

        var merged = CliRunner.Run(["predict", "--merge", .. files]);
        Assert.True(merged.ExitCode == 0, merged.Stderr);
        Assert.Equal(single.Stdout, merged.Stdout);

        // Task 2 lost and run again alone, killed by Slurm while it scores: no results file, the merge names it.
        File.Delete(files[2]);
        var retry = CliRunner.Process("sbatch", ["--parsable", "--array=2", $"--output={dir}/retry-%A_%a.out", Script, fixture.ModelPath, results, images],
            dir, TaskEnvironment(shards: "4"));
        Assert.True(retry.ExitCode == 0, retry.Stderr);
        var job = retry.Stdout.Trim();
        var clock = Stopwatch.StartNew();
        while (Directory.GetFiles(results, ".predictions.2.jsonl.*.tmp").Length == 0 && clock.Elapsed < TimeSpan.FromMinutes(2))
            Thread.Sleep(20);
        Thread.Sleep(300); // past the writability probe, into the scoring of 75 images
        Assert.Equal(0, CliRunner.Process("scancel", ["--signal=KILL", "--full", job], dir).ExitCode);
        Assert.Contains(Assert.Single(WaitFor(job, dir)), new[] { "FAILED", "CANCELLED" }); // killed by a signal
        Assert.False(File.Exists(files[2]), "the task finished before it was killed");
        var incomplete = CliRunner.Run(["predict", "--merge", .. files]);
        Assert.Equal(2, incomplete.ExitCode);
        Assert.Contains("predictions.2.jsonl: not found", incomplete.Stderr);

        Assert.Equal(["COMPLETED"], SubmitAndWait(dir, "2", "rerun", "4", fixture.ModelPath, results, images));
        Assert.Empty(Directory.GetFiles(results, ".*.tmp"));
        Assert.Equal(single.Stdout, CliRunner.Run(["predict", "--merge", .. files]).Stdout);
    }
}
