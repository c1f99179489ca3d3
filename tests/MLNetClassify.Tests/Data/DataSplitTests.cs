using MLNetClassify.Data;

namespace MLNetClassify.Tests.Data;

public class DataSplitTests
{
    private static List<LabeledImage> Fake(params (string Label, int Count)[] classes) =>
        classes.SelectMany(c => Enumerable.Range(0, c.Count).Select(i => new LabeledImage($"/data/{c.Label}/{i:D3}.jpg", c.Label))).ToList();

    [Fact]
    public void Stratified_EachLabelSplitsByFraction_Deterministically()
    {
        var images = Fake(("a", 10), ("b", 31), ("c", 2), ("d", 1));
        var split = DataSplit.Stratified(images, 0.2, 7);
        Assert.Equal(2, split.Test.Count(i => i.Label == "a"));
        Assert.Equal(6, split.Test.Count(i => i.Label == "b")); // floor(6.2 + 0.5)
        Assert.Equal(1, split.Test.Count(i => i.Label == "c")); // clamp to at least 1 ...
        Assert.Equal(1, split.Train.Count(i => i.Label == "c")); // ... and at most n - 1
        Assert.Equal(0, split.Test.Count(i => i.Label == "d"));
        Assert.Equal(images.Count, split.Train.Count + split.Test.Count);
        Assert.Empty(split.Train.Select(i => i.ImagePath).Intersect(split.Test.Select(i => i.ImagePath)));

        var again = DataSplit.Stratified(images.AsEnumerable().Reverse(), 0.2, 7);
        Assert.Equal(split.Test.Select(i => i.ImagePath), again.Test.Select(i => i.ImagePath));
        var other = DataSplit.Stratified(images, 0.2, 8);
        Assert.NotEqual(split.Test.Select(i => i.ImagePath), other.Test.Select(i => i.ImagePath));
    }

    [Fact]
    public void SplitFile_RoundTrips()
    {
        var root = TestPaths.NewTempDirectory();
        var images = Fake(("x", 5), ("y", 5)).Select(i => new LabeledImage(Path.Combine(root, i.Label, Path.GetFileName(i.ImagePath)), i.Label));
        var split = DataSplit.Stratified(images, 0.4, 3);
        var file = Path.Combine(root, "split.tsv");
        split.WriteFile(file, root);
        Assert.StartsWith("set\tlabel\tpath\ntrain\tx\tx/", File.ReadAllText(file));
        var read = DataSplit.ReadFile(file, root);
        Assert.Equal(split.Train.Select(i => (i.Label, i.ImagePath)), read.Train.Select(i => (i.Label, i.ImagePath)));
        Assert.Equal(split.Test.Select(i => (i.Label, i.ImagePath)), read.Test.Select(i => (i.Label, i.ImagePath)));
        Assert.Empty(Directory.GetFiles(root, "*.tmp"));
    }

    [Fact]
    public void ReadFile_BadSet_ErrorNamesFileAndLine()
    {
        var root = TestPaths.NewTempDirectory();
        var file = Path.Combine(root, "s.tsv");
        File.WriteAllText(file, "set\tlabel\tpath\ntrain\ta\ta/1.jpg\nvalid\ta\ta/2.jpg\n");
        var e = Assert.Throws<InvalidDataException>(() => DataSplit.ReadFile(file, root));
        Assert.Contains($"{file}:3", e.Message);
        File.WriteAllText(file, "path\tlabel\n");
        Assert.Throws<InvalidDataException>(() => DataSplit.ReadFile(file, root));
    }

    [SkippableTheory]
    [InlineData("flowers-200")]
    [InlineData("brick-cracks")]
    [InlineData("intel-scenes")]
    public void Stratified_Seed1_ReproducesSharedSplitFiles(string set)
    {
        var data = TestPaths.RequireSharedData(set);
        var shared = DataSplit.ReadFile(Path.Combine(TestPaths.SharedData!, "splits", $"{set}.tsv"), data);
        var ours = DataSplit.Stratified(ImageDataset.FromFolder(data), 0.2, 1);
        Assert.Equal(shared.Test.Select(i => i.ImagePath).Order(), ours.Test.Select(i => i.ImagePath).Order());
        Assert.Equal(shared.Train.Count, ours.Train.Count);
    }

    [Fact]
    public void Holdout_DrawsItsValidationRowsWithTheSameSplitterAsDataSplit()
    {
        // One stratified splitter serves both: the trainers' validation rows are what DataSplit.Stratified would put
        // in test for the same labels, fraction and seed.
        var images = Enumerable.Range(0, 30).Select(i => new LabeledImage($"/img/{i:D2}.jpg", i % 3 == 0 ? "a" : "b")).ToList();
        var split = DataSplit.Stratified(images, 0.2, 7);
        var sorted = images.OrderBy(i => i.Label, StringComparer.Ordinal).ThenBy(i => i.ImagePath, StringComparer.Ordinal).ToList();
        var labels = sorted.Select(i => i.Label == "a" ? 0 : 1).ToArray();
        var (train, validation) = MLNetClassify.Learning.Holdout.Split(labels, 0.2f, 7);
        Assert.Equal(split.Test.Select(i => i.ImagePath).Order(), validation.Select(r => sorted[r].ImagePath).Order());
        Assert.Equal(split.Train.Count, train.Length);
    }
}

/// <summary>What a split file may not do: leave the data folder, list one image in both sets, repeat rows.</summary>
public class SplitFileCheckTests
{
    private static (string Data, string File, IReadOnlyList<LabeledImage> Images) Setup()
    {
        var dir = TestPaths.NewTempDirectory();
        var data = Path.Combine(dir, "data");
        var images = TestImages.LogoFolder(data, perClass: 3, seed: 41, size: 64);
        return (data, Path.Combine(dir, "split.tsv"), images);
    }

    private static string Rel(string data, LabeledImage image) => Path.GetRelativePath(data, image.ImagePath);

    private static void Write(string file, params string[] rows) => File.WriteAllLines(file, ["set\tlabel\tpath", .. rows]);

    [Fact]
    public void PathsOutsideTheDataFolder_AreAnErrorNamingTheLine_UnlessAllowed()
    {
        var (data, file, images) = Setup();
        var outside = Path.Combine(Path.GetDirectoryName(data)!, "outside.jpg");
        File.Copy(images[0].ImagePath, outside);
        foreach (var path in new[] { "../outside.jpg", outside, "logo/../../outside.jpg" })
        {
            Write(file, $"train\tlogo\t{Rel(data, images[1])}", $"train\tlogo\t{path}", $"test\tother\t{Rel(data, images[4])}");
            var e = Assert.Throws<InvalidDataException>(() => DataSplit.ReadFile(file, data));
            Assert.StartsWith($"{file}:3: '{path}'", e.Message);
            Assert.Contains("outside the data folder", e.Message);
            var allowed = DataSplit.ReadFile(file, data, allowOutsidePaths: true, out _);
            Assert.Equal(outside, allowed.Train[1].ImagePath);
        }
        // A path that only passes through a parent and comes back in is inside.
        Write(file, $"train\tlogo\tlogo/../{Rel(data, images[1])}");
        Assert.Equal(images[1].ImagePath, DataSplit.ReadFile(file, data).Train[0].ImagePath);
    }

    [Fact]
    public void OneFileInBothSets_IsAnErrorNamingBothLines()
    {
        var (data, file, images) = Setup();
        Write(file, $"train\tlogo\t{Rel(data, images[0])}", $"train\tlogo\t{Rel(data, images[1])}", $"test\tlogo\t{Rel(data, images[0])}");
        var e = Assert.Throws<InvalidDataException>(() => DataSplit.ReadFile(file, data));
        Assert.Contains($"{file}:4:", e.Message);
        Assert.Contains("on line 2, for train", e.Message);
    }

    [Fact]
    public void RepeatedRows_AreCountedOnce_AndSameBytesUnderTwoNamesAcrossSets_AreNoted()
    {
        var (data, file, images) = Setup();
        var twin = Path.Combine(data, "other", "renamed-copy.jpg");
        File.Copy(images[0].ImagePath, twin);
        Write(file,
            $"train\tlogo\t{Rel(data, images[0])}",
            $"train\tlogo\t{Rel(data, images[1])}",
            $"train\tlogo\t{Rel(data, images[1])}",
            $"test\tother\t{Rel(data, images[4])}",
            "test\tother\tother/renamed-copy.jpg");
        var split = DataSplit.ReadFile(file, data, false, out var notes);
        Assert.Equal(2, split.Train.Count);
        Assert.Equal(2, split.Test.Count);
        Assert.Equal(2, notes.Count);
        Assert.Equal($"{file}:4: '{Rel(data, images[1])}' repeats line 3; counted once.", notes[0]);
        Assert.StartsWith($"{file}:6: test image {twin} has the same bytes as training image {images[0].ImagePath} (line 2)", notes[1]);
    }
}
