using System.Text.Json;

namespace MLNetClassify.Tests.Cli;

/// <summary>Data that does not fit the model or the split: said, with the reason, before anything is saved.</summary>
[Collection(LogoModelCollection.Name)]
public class MismatchedDataTests(LogoModelFixture fixture)
{
    [Fact]
    public void Evaluate_OnLabelsTheModelDoesNotKnow_SaysWhichAndTheModels()
    {
        var data = Path.Combine(TestPaths.NewTempDirectory(), "animals");
        foreach (var (label, k) in new[] { ("cat", 0), ("dog", 1) })
        {
            Directory.CreateDirectory(Path.Combine(data, label));
            File.Copy(fixture.Images[k].ImagePath, Path.Combine(data, label, "a.jpg"));
        }
        foreach (var mode in new[] { "--no-cache", "--row-by-row" })
        {
            var run = CliRunner.Run(["evaluate", "--model", fixture.ModelPath, "--data", data, mode]);
            Assert.Equal(2, run.ExitCode);
            Assert.Contains("None of the 2 images can be evaluated: 2 have labels the model does not know (cat, dog; the model's classes: logo, other).", run.Stderr);
        }
    }

    [Fact]
    public void Train_WithAClassWhoseSplitPathsAreNotUnderData_RefusesNamingIt_UnlessAllowed()
    {
        var dir = TestPaths.NewTempDirectory();
        var split = Path.Combine(dir, "split.tsv");
        var rows = fixture.Split.Train.Select(i => $"train\t{i.Label}\t{Path.GetRelativePath(fixture.DataDirectory, i.ImagePath)}")
            .Concat(["train\tbirds\tbirds/0001.jpg", "train\tbirds\tbirds/0002.jpg"])
            .Concat(fixture.Split.Test.Select(i => $"test\t{i.Label}\t{Path.GetRelativePath(fixture.DataDirectory, i.ImagePath)}"));
        File.WriteAllLines(split, ["set\tlabel\tpath", .. rows]);
        var model = Path.Combine(dir, "m.zip");

        var refused = CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", split, "--model", model, "--epochs", "5"]);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("1 of 3 classes have no usable training image: 'birds' (2 listed, none readable; first: ", refused.Stderr);
        Assert.Contains("--allow-empty-classes", refused.Stderr);
        Assert.False(File.Exists(model));

        var allowed = CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", split, "--model", model, "--epochs", "5", "--allow-empty-classes", "--json"]);
        Assert.True(allowed.ExitCode == 0, allowed.Stderr);
        Assert.Contains("birds", JsonDocument.Parse(allowed.StdoutLines[^1]).RootElement.GetProperty("classes").ToString());
    }
}
