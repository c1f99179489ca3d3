using MLNetClassify.Data;
using MLNetClassify.Models;
using MLNetClassify.Testing;
using MLNetClassify.Tests.Cli;

namespace MLNetClassify.Tests.Persistence;

/// <summary>Damaged and forged model zips: every way of opening one ends with a result or a clear error naming the file, never a bug.</summary>
[Collection(LogoModelCollection.Name)]
public class CraftedModelTests(LogoModelFixture fixture)
{
    /// <summary>The fixture's model saved as `train` saves it: with the head record, a training record and the image list.</summary>
    private string WholeZip(string dir)
    {
        var path = Path.Combine(dir, "whole.zip");
        var train = fixture.Split.Train;
        ModelFiles.Save(fixture.MlContext, fixture.Trained.Model, fixture.Trained.InputSchema!, path, trainingRecord: """{"backbone":"resnet18"}""",
            trainedImages: new TrainedImageList(train.Select(i => i.ImagePath).ToList(), train.Select(_ => (string?)null).ToList()));
        return path;
    }

    [Fact]
    public void DamagedZips_OfEveryKind_AreOpenedOrRefusedNamingTheFile_ByEveryReader()
    {
        var dir = TestPaths.NewTempDirectory();
        var original = File.ReadAllBytes(WholeZip(dir));
        var image = fixture.Split.Test[0].ImagePath;
        var bugs = new List<string>();
        var refusedKinds = new HashSet<string>();
        for (int i = 0; i < 2 * ZipMutations.Kinds.Length; i++)
        {
            var (kind, bytes) = ZipMutations.Mutate(original, i, seed: 7);
            var path = Path.Combine(dir, $"damaged-{i}-{kind}.zip");
            File.WriteAllBytes(path, bytes);
            foreach (var outcome in ModelOpenings.Run(path, image))
            {
                if (outcome.Result == "bug") bugs.Add($"{kind} #{i}, {outcome.Opening}: {outcome.Error}");
                if (outcome.Result == "refused") refusedKinds.Add(kind);
            }
            File.Delete(path);
        }
        Assert.True(bugs.Count == 0, string.Join("\n\n", bugs));
        Assert.Equal(ZipMutations.Kinds.Order(), refusedKinds.Order()); // each kind of damage was met, and refused somewhere
    }

    [Fact]
    public void AFlippedByteOrAForgedSize_IsRefused_NamingTheEntry_AndTheCliSaysSoWithExit2()
    {
        var dir = TestPaths.NewTempDirectory();
        var original = File.ReadAllBytes(WholeZip(dir));
        // The middle of the file lies in the featurizer graph's compressed bytes (29 of its 30 MB).
        var flipped = (byte[])original.Clone();
        flipped[flipped.Length / 2] ^= 0x10;
        var flippedPath = Path.Combine(dir, "flipped.zip");
        File.WriteAllBytes(flippedPath, flipped);
        var e = Assert.Throws<InvalidDataException>(() => ModelFiles.Load(new Microsoft.ML.MLContext(1), flippedPath, out _));
        Assert.Matches($"^{System.Text.RegularExpressions.Regex.Escape(flippedPath)}: the entry '[^']*OnnxModel' is damaged", e.Message);

        var forgedPath = Path.Combine(dir, "forged.zip");
        File.WriteAllBytes(forgedPath, ZipMutations.Mutate(original, Array.IndexOf(ZipMutations.Kinds, "claims-gigabytes"), seed: 1).Bytes);
        Assert.Contains("is damaged: its header claims", Assert.Throws<InvalidDataException>(() => ModelFiles.ReadTrainingRecord(forgedPath)).Message);

        var truncatedPath = Path.Combine(dir, "truncated.zip");
        File.WriteAllBytes(truncatedPath, original[..(original.Length / 3)]);
        var image = fixture.Split.Test[0].ImagePath;
        foreach (var path in new[] { flippedPath, forgedPath, truncatedPath })
            foreach (var args in new string[][] { ["info", "--model", path], ["predict", "--model", path, image], ["evaluate", "--model", path, "--data", fixture.DataDirectory] })
            {
                var run = CliRunner.Run(args);
                Assert.True(run.ExitCode == 2, $"{string.Join(' ', args)}: exit {run.ExitCode}\n{run.Stderr}");
                Assert.Contains(path, run.Stderr);
                Assert.DoesNotContain("This is a bug", run.Stderr);
            }
    }
}
