using System.IO.Compression;
using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Models;
using MLNetClassify.Training;

namespace MLNetClassify.Tests.Persistence;

/// <summary>A zip's recorded head (read without an ML.NET load) against the same parts read through ML.NET.</summary>
public class ClassifierModelTests
{
    private static string SavedModel()
    {
        var dir = TestPaths.NewTempDirectory();
        var split = DataSplit.Stratified(ColourImages.Folder(Path.Combine(dir, "data"), 8, seed: 31, size: 48), 0.25, 2);
        var ml = new MLContext(1);
        var trained = ClassifierWorkflow.Train(ml, split, new ImageClassifierOptions { Head = new SoftmaxHeadOptions { Epochs = 10 } });
        var path = Path.Combine(dir, "model.zip");
        ModelFiles.Save(ml, trained.Model, trained.InputSchema!, path, trainedImages: trained.TrainedImages);
        (trained.Model as IDisposable)?.Dispose();
        return path;
    }

    private static void AssertSameParts(ClassifierModel expected, ClassifierModel actual)
    {
        Assert.Equal(expected.Classes, actual.Classes);
        Assert.Equal(expected.Tail.Bias, actual.Tail.Bias); // bit for bit
        Assert.Equal(expected.Tail.Weights, actual.Tail.Weights);
        Assert.Equal(expected.Tail.Features, actual.Tail.Features);
        Assert.Equal(expected.Trunk.Graph, actual.Trunk.Graph);
        Assert.Equal((expected.Trunk.BackboneName, expected.Trunk.InputSize, expected.Trunk.Channels),
            (actual.Trunk.BackboneName, actual.Trunk.InputSize, actual.Trunk.Channels));
        Assert.True(expected.TrainedImages!.SetEquals(actual.TrainedImages!));
    }

    [Fact]
    public void RecordedHead_EqualsWhatMlNetLoads_AndIsPassedOverOnceMlNetsEntriesChange()
    {
        var path = SavedModel();
        var throughMlNet = ClassifierModel.ReadThroughMlNet(new MLContext(1), path, "test");
        var recorded = ClassifierModel.TryReadRecorded(path);
        Assert.NotNull(recorded);
        AssertSameParts(throughMlNet, recorded!);

        // Another schema entry (as if someone edited the zip): the record no longer vouches for the model.
        var edited = Path.Combine(TestPaths.NewTempDirectory(), "edited.zip");
        File.Copy(path, edited);
        using (var zip = ZipFile.Open(edited, ZipArchiveMode.Update))
        {
            var schema = zip.GetEntry("Schema")!;
            byte[] bytes;
            using (var stream = schema.Open()) { using var copy = new MemoryStream(); stream.CopyTo(copy); bytes = copy.ToArray(); }
            schema.Delete();
            using var rewritten = zip.CreateEntry("Schema").Open();
            rewritten.Write(bytes);
            rewritten.WriteByte(0);
        }
        Assert.Null(ClassifierModel.TryReadRecorded(edited));

        // An entry removed, or a stock re-save (no record at all): the same.
        var fewer = Path.Combine(TestPaths.NewTempDirectory(), "fewer.zip");
        File.Copy(path, fewer);
        using (var zip = ZipFile.Open(fewer, ZipArchiveMode.Update))
            zip.Entries.First(e => e.FullName.EndsWith("TrainSchema", StringComparison.Ordinal)).Delete();
        Assert.Null(ClassifierModel.TryReadRecorded(fewer));
        var ml = new MLContext(1);
        var loaded = ml.Model.Load(path, out var inputSchema);
        var stock = Path.Combine(TestPaths.NewTempDirectory(), "stock.zip");
        ml.Model.Save(loaded, inputSchema, stock);
        (loaded as IDisposable)?.Dispose();
        Assert.Null(ClassifierModel.TryReadRecorded(stock));
        var viaRead = ClassifierModel.Read(ml, stock, "test");
        Assert.Equal(throughMlNet.Tail.Weights, viaRead.Tail.Weights);
        Assert.Null(viaRead.TrainedImages);
    }

    [Fact]
    public void APerceptronZip_HasNoRecordedHead()
    {
        var dir = TestPaths.NewTempDirectory();
        var split = DataSplit.Stratified(ColourImages.Folder(Path.Combine(dir, "data"), 6, seed: 3, size: 32), 0.25, 2);
        var ml = new MLContext(1);
        var trained = ClassifierWorkflow.TrainPerceptron(ml, split);
        var path = Path.Combine(dir, "perceptron.zip");
        ModelFiles.Save(ml, trained.Model, trained.InputSchema!, path);
        using var zip = ZipFile.OpenRead(path);
        Assert.Null(zip.GetEntry(ClassifierModel.HeadEntry));
    }
}
