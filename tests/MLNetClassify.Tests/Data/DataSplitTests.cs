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
