using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using MLNetClassify.Images;
using MLNetClassify.Models;
using MLNetClassify.Serving;
using MLNetClassify.Tests.Cli;
using SkiaSharp;

namespace MLNetClassify.Tests.Images;

/// <summary>Training (the batched featurizer) and scoring (the CLI, the row-by-row evaluation) decode a file alike.</summary>
[Collection(LogoModelCollection.Name)]
public class SamePixelsTests(LogoModelFixture fixture)
{
    private sealed class FeatureRow
    {
        [VectorType(512)]
        public float[] Features { get; set; } = [];
    }

    /// <summary>A large photo of a fixture test image, stored turned (EXIF 6) as a phone in portrait stores it.</summary>
    private static string RotatedLargePhoto(string source, string dir)
    {
        using var small = SKBitmap.Decode(source);
        using var upright = small.Resize(new SKImageInfo(small.Width * 8, small.Height * 6), SKFilterQuality.High); // not square: turned is told from upright
        using var stored = TestPictures.Stored(upright, 6);
        var path = Path.Combine(dir, "portrait.jpg");
        File.WriteAllBytes(path, TestPictures.JpegWithOrientation(stored, 6));
        return path;
    }

    [Fact]
    public void ScoringAFile_GivesTheScoresOfTheHeadOnTheBatchedFeatures_ForARotatedLargePhoto()
    {
        var dir = TestPaths.NewTempDirectory();
        var photo = RotatedLargePhoto(fixture.Split.Test[0].ImagePath, dir);
        var ml = new MLContext(1);

        // Training's path: the batched featurizer, then the saved head on those features.
        using var featurizer = new ImageFeaturizer(ml, BackboneCatalog.ResNet18);
        var features = featurizer.Featurize([photo]).Features.Row(0).ToArray();
        var head = fixture.Trained.Head!;
        var viaHead = head.Transform(ml.Data.LoadFromEnumerable([new FeatureRow { Features = features }])).GetColumn<float[]>("Score").Single();

        // Scoring's path: the saved zip, loaded with stock ML.NET, each file decoded by the same decoder.
        var loaded = ModelFiles.Load(ml, fixture.ModelPath, out var schema);
        using var scorer = new DecodedImageScorer(ml, loaded, inputSchema: schema);
        Assert.Equal(224, scorer.Side);
        var (score, problem) = scorer.Score(photo);
        Assert.Null(problem);
        Assert.True(score!.Zip(viaHead, (a, b) => Math.Abs(a - b)).Max() <= 1e-5, $"{string.Join(",", score!)} vs {string.Join(",", viaHead)}");
    }

    private sealed class Upload
    {
        [ImageType(224, 224)]
        public MLImage? Image { get; set; }

        public string Label { get; set; } = "";
    }

    private sealed class Scored
    {
        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void CatalogEngineOnADecodedImage_ScoresLikeTheDecodedScorer_AndTwoEnginesShareOneModel()
    {
        var dir = TestPaths.NewTempDirectory();
        var photo = RotatedLargePhoto(fixture.Split.Test[2].ImagePath, dir);
        var ml = new MLContext(1);
        var loaded = ml.ImageClassification().LoadModel(fixture.ModelPath, out var schema);
        using var scorer = new DecodedImageScorer(ml, loaded, inputSchema: schema);
        var expected = scorer.Score(photo).Score!;

        using (var first = ml.ImageClassification().CreatePredictionEngine<Upload, Scored>(loaded, schema))
        using (var image = ml.ImageClassification().DecodeImage(photo))
            Assert.Equal(expected, first.Predict(new Upload { Image = image }).Score);
        // The first engine is disposed; the model it was made from is not.
        using var second = ml.ImageClassification().CreatePredictionEngine<Upload, Scored>(loaded, schema);
        using var again = ml.ImageClassification().DecodeImage(photo);
        Assert.Equal(expected, second.Predict(new Upload { Image = again }).Score);

        using (var stream = File.OpenRead(photo))
        using (var fromStream = ml.ImageClassification().DecodeImageFromStream(stream))
            Assert.Equal(expected, second.Predict(new Upload { Image = fromStream }).Score);
        Assert.Contains("incomplete image data", Assert.Throws<InvalidDataException>(() =>
            ml.ImageClassification().DecodeImageFromStream(new MemoryStream(File.ReadAllBytes(photo)[..5000]))).Message);

        var e = Assert.Throws<InvalidDataException>(() => ml.ImageClassification().DecodeImage(Path.Combine(dir, "missing.jpg")));
        Assert.Contains("missing.jpg: file not found", e.Message);
    }

    [Fact]
    public void EightThreads_EachCreatingAndDisposingItsOwnEngines_OverOneModel_ScoreAsSequentially()
    {
        // ML.NET's engines own (and on Dispose dispose) the model by default: 8 threads each doing
        // `using var engine = mlContext.Model.CreatePredictionEngine(model)` crashed the process.
        // The catalog's engines never own it, so this pattern, the natural one, is safe.
        var ml = new MLContext(1);
        var loaded = ml.ImageClassification().LoadModel(fixture.ModelPath, out var schema);
        var files = fixture.Split.Test.Select(i => i.ImagePath).ToList();
        float[][] expected;
        using (var engine = ml.ImageClassification().CreatePredictionEngine<Upload, Scored>(loaded, schema))
            expected = files.Select(f =>
            {
                using var image = ml.ImageClassification().DecodeImage(f);
                return engine.Predict(new Upload { Image = image }).Score;
            }).ToArray();

        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            for (int round = 0; round < 4; round++)
            {
                using var engine = ml.ImageClassification().CreatePredictionEngine<Upload, Scored>(loaded, schema);
                for (int k = 0; k < files.Count; k++)
                {
                    using var image = ml.ImageClassification().DecodeImage(files[(k + t) % files.Count]);
                    if (!engine.Predict(new Upload { Image = image }).Score.SequenceEqual(expected[(k + t) % files.Count]))
                        failures.Add($"thread {t}, round {round}, image {(k + t) % files.Count}");
                }
            }
        })).ToList();
        threads.ForEach(th => th.Start());
        threads.ForEach(th => th.Join());
        Assert.Empty(failures);
        // Every engine is gone; the model still scores.
        using var last = ml.ImageClassification().CreatePredictionEngine<Upload, Scored>(loaded, schema);
        using var first = ml.ImageClassification().DecodeImage(files[0]);
        Assert.Equal(expected[0], last.Predict(new Upload { Image = first }).Score);
    }

    [Fact]
    public void PredictCli_OnARotatedPhoto_AgreesWithTheUprightPicture_WhichMlNetsLoaderSeesOnItsSide()
    {
        var dir = TestPaths.NewTempDirectory();
        var source = fixture.Split.Test[1].ImagePath;
        var photo = RotatedLargePhoto(source, dir);
        using (var small = SKBitmap.Decode(source))
        using (var upright = small.Resize(new SKImageInfo(small.Width * 8, small.Height * 6), SKFilterQuality.High))
            File.WriteAllBytes(Path.Combine(dir, "upright.jpg"), TestPictures.Encode(upright, SKEncodedImageFormat.Jpeg));

        // ML.NET's own loader, which a plain path-based PredictionEngine runs, ignores the EXIF tag: it sees the
        // photo lying on its side.
        using (var stock = MLImage.CreateFromFile(photo))
        using (var small = SKBitmap.Decode(source))
            Assert.Equal((small.Height * 6, small.Width * 8), (stock.Width, stock.Height));

        var run = CliRunner.Run(["predict", "--model", fixture.ModelPath, "--json", photo, Path.Combine(dir, "upright.jpg")]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = run.StdoutLines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        float rotated = lines[0].GetProperty("score").GetSingle(), plain = lines[1].GetProperty("score").GetSingle();
        Assert.Equal(lines[1].GetProperty("label").GetString(), lines[0].GetProperty("label").GetString());
        Assert.True(Math.Abs(rotated - plain) < 0.05, $"rotated {rotated} against upright {plain}");
    }

    [Fact]
    public void TrainCli_FolderWithOtherFiles_NamesWhatItLeftOut_AndReadsWebp()
    {
        var dir = TestPaths.NewTempDirectory();
        var data = Path.Combine(dir, "data");
        TestImages.LogoFolder(data, 6, seed: 33, size: 96);
        using (var picture = TestPictures.Marked(96, 96))
        {
            File.WriteAllBytes(Path.Combine(data, "logo", "extra.webp"), TestPictures.Encode(picture, SKEncodedImageFormat.Webp, 90));
            File.WriteAllBytes(Path.Combine(data, "logo", "scan.tif"), [0x49, 0x49, 0x2A, 0]);
            File.WriteAllBytes(Path.Combine(data, "other", "scan2.tif"), [0x49, 0x49, 0x2A, 0]);
            File.WriteAllText(Path.Combine(data, "other", "notes.txt"), "not an image");
        }
        var run = CliRunner.Run(["train", "--data", data, "--model", Path.Combine(dir, "m.zip"), "--epochs", "5", "--no-cache", "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("left out 3 file(s) that are not images read here (PNG, JPEG, GIF, BMP, WebP): .tif ×2, .txt ×1", run.Stderr);
        var summary = JsonDocument.Parse(run.StdoutLines[^1]).RootElement;
        Assert.Equal(13, summary.GetProperty("train_images").GetInt32() + summary.GetProperty("test_images").GetInt32());
    }

    [Fact]
    public void PredictCli_BadUploads_AreNamedSkips_AndTheGoodImageIsStillScored()
    {
        // docs/bad-input.md's table, predict column.
        var dir = TestPaths.NewTempDirectory();
        File.WriteAllBytes(Path.Combine(dir, "bomb.png"), TestPictures.PngBomb(30000));
        var good = File.ReadAllBytes(fixture.Split.Test[0].ImagePath);
        File.WriteAllBytes(Path.Combine(dir, "cut.jpg"), good[..(good.Length * 4 / 10)]);
        File.WriteAllBytes(Path.Combine(dir, "empty.jpg"), []);
        File.WriteAllText(Path.Combine(dir, "text.jpg"), "hello");
        File.WriteAllBytes(Path.Combine(dir, "good.jpg"), good);
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "left out");

        var run = CliRunner.Run(["predict", "--model", fixture.ModelPath, "--json", dir]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = run.StdoutLines.Select(l => JsonDocument.Parse(l).RootElement)
            .ToDictionary(l => Path.GetFileName(l.GetProperty("path").GetString()!));
        Assert.Contains("30000×30000 pixels (900 megapixels) is over the limit of 100 megapixels", lines["bomb.png"].GetProperty("error").GetString());
        Assert.Contains("incomplete image data: the file is cut short", lines["cut.jpg"].GetProperty("error").GetString());
        Assert.Contains("empty file (0 bytes)", lines["empty.jpg"].GetProperty("error").GetString());
        Assert.Contains("not an image in a supported format", lines["text.jpg"].GetProperty("error").GetString());
        Assert.True(lines["good.jpg"].TryGetProperty("label", out _));
        Assert.Contains("left out 1 file(s) that are not images read here (PNG, JPEG, GIF, BMP, WebP): .txt ×1", run.Stderr);

        var none = CliRunner.Run(["predict", "--model", fixture.ModelPath, Path.Combine(dir, "empty.jpg")]);
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("No readable image among 1 file(s).", none.Stderr);
    }

    [SkippableFact]
    public void SharedImages_NoneIsDctScaledOrTurned_SoTheyDecodeAsBefore()
    {
        // Backs docs/bad-input.md: the shared splits' figures do not move with the decoder.
        var data = TestPaths.RequireSharedData("flowers-200");
        var root = Path.GetDirectoryName(data)!;
        int files = 0;
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Where(MLNetClassify.Data.ImageDataset.IsImageFile))
        {
            using var codec = SKCodec.Create(file);
            if (codec is null) continue;
            files++;
            Assert.True(codec.EncodedOrigin == SKEncodedOrigin.TopLeft, $"{file} carries EXIF orientation {codec.EncodedOrigin}");
            Assert.True(ImageDecoder.ScaledSize(codec, 224) == new SKSizeI(codec.Info.Width, codec.Info.Height), $"{file} would be DCT-scaled");
        }
        Assert.True(files >= 6000, $"{files} images under {root}");
    }
}
