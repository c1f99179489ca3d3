using System.Collections.Concurrent;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Heads;
using MLNetClassify.Models;
using MLNetClassify.Training;

namespace MLNetClassify.Tests.Persistence;

/// <summary>Two small models (64-pixel input, so thousands of predictions stay quick) on one Logo-vs-Other set.</summary>
public sealed class TwoModelsFixture : IDisposable
{
    public TwoModelsFixture()
    {
        Root = TestPaths.NewTempDirectory();
        Images = TestImages.LogoFolder(Path.Combine(Root, "images"), perClass: 16, seed: 51, size: 96).Select(i => i.ImagePath).ToList();
        var split = DataSplit.Stratified(TestImages.LogoFolder(Path.Combine(Root, "train"), perClass: 16, seed: 52, size: 96), 0.25, 1);
        var ml = new MLContext(1);
        string Save(string name, int epochs)
        {
            var options = new ImageClassifierOptions { Backbone = BackboneCatalog.ResNet18AtSize(64), Head = new SoftmaxHeadOptions { Epochs = epochs } };
            var trained = ClassifierWorkflow.Train(ml, split, options);
            var path = Path.Combine(Root, name);
            ModelFiles.Save(ml, trained.Model, trained.InputSchema!, path);
            return path;
        }
        ModelA = Save("a.zip", 30);
        ModelB = Save("b.zip", 2);
    }

    public string Root { get; }
    public List<string> Images { get; }
    public string ModelA { get; }
    public string ModelB { get; }

    /// <summary>Each image's scores from one engine, one image after another.</summary>
    public float[][] Sequential(string model)
    {
        using var pool = new MLContext(1).ImageClassification().CreatePool(model, maxEngines: 1);
        return Images.Select(i => pool.Predict(i).Scores.ToArray()).ToArray();
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

public class ImageClassifierPoolTests(TwoModelsFixture models) : IClassFixture<TwoModelsFixture>
{
    [Fact]
    public void EightThreadsTimesAThousand_GiveTheSequentialScores_WithinTheEngineLimit_AndDisposeReleasesThem()
    {
        var expected = models.Sequential(models.ModelA);
        var pool = new MLContext(1).ImageClassification().CreatePool(models.ModelA, maxEngines: 4);
        var failures = new ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            for (int n = 0; n < 1000; n++)
            {
                int k = (n * 7 + t) % models.Images.Count;
                var p = pool.Predict(models.Images[k]);
                if (!p.Scores.SequenceEqual(expected[k]) || p.Label != p.Classes[Array.IndexOf(expected[k], expected[k].Max())])
                    failures.Add($"thread {t}, prediction {n}, image {k}");
            }
        })).ToList();
        threads.ForEach(th => th.Start());
        threads.ForEach(th => th.Join());
        Assert.Empty(failures);
        Assert.InRange(pool.EnginesCreated, 1, 4);
        Assert.Equal(pool.EnginesCreated, pool.EnginesAlive);

        // Streams score like files; a file that is no image is an error naming it.
        using (var stream = File.OpenRead(models.Images[3]))
            Assert.Equal(expected[3], pool.Predict(stream).Scores);
        var text = Path.Combine(models.Root, "not-an-image.jpg");
        File.WriteAllText(text, "text");
        Assert.StartsWith($"{text}: not an image", Assert.Throws<InvalidDataException>(() => pool.Predict(text)).Message);

        pool.Dispose();
        Assert.Equal(0, pool.EnginesAlive);
        Assert.Throws<ObjectDisposedException>(() => pool.Predict(models.Images[0]));
    }

    [Fact]
    public void ReloadsUnderLoad_EveryAnswerIsWhollyTheOldOrTheNewModels_AndNothingCrashes()
    {
        var a = models.Sequential(models.ModelA);
        var b = models.Sequential(models.ModelB);
        Assert.NotEqual(a[0], b[0]);
        var serving = Path.Combine(TestPaths.NewTempDirectory(), "serving.zip");
        File.Copy(models.ModelA, serving);
        using var pool = new MLContext(1).ImageClassification().CreatePool(serving, maxEngines: 4);

        var failures = new ConcurrentBag<string>();
        int fromA = 0, fromB = 0, reloads = 0;
        var workers = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            for (int n = 0; n < 1000; n++)
            {
                int k = (n * 5 + t) % models.Images.Count;
                var scores = pool.Predict(models.Images[k]).Scores;
                if (scores.SequenceEqual(a[k])) Interlocked.Increment(ref fromA);
                else if (scores.SequenceEqual(b[k])) Interlocked.Increment(ref fromB);
                else failures.Add($"thread {t}, prediction {n}, image {k}: neither model's scores");
            }
        })).ToList();
        var done = 0;
        var reloader = new Thread(() =>
        {
            // A new version written atomically beside the served file (temporary file, then rename), then Reload.
            for (int version = 1; Volatile.Read(ref done) == 0; version++)
            {
                var temp = serving + ".new";
                File.Copy(version % 2 == 1 ? models.ModelB : models.ModelA, temp, overwrite: true);
                File.Move(temp, serving, overwrite: true);
                pool.Reload();
                Interlocked.Increment(ref reloads);
                Thread.Sleep(50);
            }
        });
        workers.ForEach(w => w.Start());
        reloader.Start();
        workers.ForEach(w => w.Join());
        Volatile.Write(ref done, 1);
        reloader.Join();

        Assert.Empty(failures);
        Assert.Equal(8000, fromA + fromB);
        Assert.True(fromA > 0 && fromB > 0 && reloads >= 4, $"{fromA} answers from A, {fromB} from B, {reloads} reloads");
        // Retired versions released their engines: only the current version's remain, and none once disposed.
        Assert.InRange(pool.EnginesAlive, 0, 4);
        pool.Dispose();
        Assert.Equal(0, pool.EnginesAlive);
    }
}
