using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Images;
using SkiaSharp;

namespace MLNetClassify.Tests.Images;

/// <summary>The image steps done without ML.NET's engine give ML.NET's stock ResizeImages + ExtractPixels planes exactly.</summary>
public class StockPlanesTests
{
    /// <summary>The stock transforms (the steps a saved model runs) on an in-memory image.</summary>
    private static float[] MlNetPlanes(MLContext ml, MLImage image, int size)
    {
        var model = ImagePreparation.Estimators(ml, nameof(ImageRow.Image), inputIsPath: false, size).Fit(ml.Data.LoadFromEnumerable(Array.Empty<ImageRow>()));
        using var engine = ml.Model.CreatePredictionEngine<ImageRow, PixelsRow>(model);
        return engine.Predict(new ImageRow { Image = image }).Pixels;
    }

    /// <summary>Noise (the hardest case for a resampler to agree on); premultiplied alpha when <paramref name="alpha"/>.</summary>
    private static byte[] Noise(int width, int height, int seed, bool alpha)
    {
        var rng = new Random(seed);
        var bytes = new byte[width * height * 4];
        for (int i = 0; i < bytes.Length; i += 4)
        {
            byte a = alpha ? (byte)rng.Next(256) : (byte)255;
            for (int c = 0; c < 3; c++) bytes[i + c] = (byte)rng.Next(a + 1);
            bytes[i + 3] = a;
        }
        return bytes;
    }

    [Theory]
    [InlineData(224, 224, false)] // passed through untouched
    [InlineData(500, 375, false)] // a photo: iso-crop centred, shrunk
    [InlineData(375, 500, false)] // portrait
    [InlineData(504, 378, false)] // a 12-megapixel photo's 1/8 DCT scale
    [InlineData(100, 100, false)] // enlarged
    [InlineData(227, 224, false)] // one side already the size
    [InlineData(3, 700, false)]   // extreme aspect ratio: rectangles rounded short
    [InlineData(96, 64, true)]    // premultiplied alpha
    public void StockPlanes_EqualMlNetsResizeAndExtract_BitForBit(int width, int height, bool alpha)
    {
        var ml = new MLContext(1);
        var pixels = Noise(width, height, seed: width * 31 + height, alpha);
        using var image = MLImage.CreateFromPixels(width, height, MLPixelFormat.Bgra32, pixels);
        var expected = MlNetPlanes(ml, image, 224);

        using var planes = new StockPlanes(224);
        var actual = new float[3 * 224 * 224];
        planes.Write(pixels, width, height, rgba: false, actual);
        Assert.Equal(expected, actual);
        // Again on the same instance (its bitmap is reused): still the same.
        planes.Write(Noise(640, 480, 7, false), 640, 480, rgba: false, new float[actual.Length]);
        planes.Write(pixels, width, height, rgba: false, actual);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void PixelReaders_OnRgbaAndBgraImagesAndFiles_EqualTheStockTransforms()
    {
        var ml = new MLContext(1);
        using var readers = new PixelReaders(224);
        var actual = new float[3 * 224 * 224];
        foreach (var (w, h) in new[] { (224, 224), (300, 200) })
        {
            var bgra = Noise(w, h, 5, alpha: false);
            var rgba = (byte[])bgra.Clone();
            for (int i = 0; i < rgba.Length; i += 4) (rgba[i], rgba[i + 2]) = (bgra[i + 2], bgra[i]);
            using var fromBgra = MLImage.CreateFromPixels(w, h, MLPixelFormat.Bgra32, bgra);
            using var fromRgba = MLImage.CreateFromPixels(w, h, MLPixelFormat.Rgba32, rgba);
            var expected = MlNetPlanes(ml, fromBgra, 224);
            Assert.Null(readers.TryRead(ImageSource.FromImage(fromRgba, "rgba"), actual));
            Assert.Equal(MlNetPlanes(ml, fromRgba, 224), actual);
            Assert.Equal(expected, actual); // the same colours either way
            Assert.Null(readers.TryRead(ImageSource.FromImage(fromBgra, "bgra"), actual));
            Assert.Equal(expected, actual);
        }

        // A file: the decoder's pixels (a 12-megapixel JPEG at 1/8 scale, an EXIF-turned one) through the stock transforms.
        var dir = TestPaths.NewTempDirectory();
        using var scene = SKBitmap.Decode(SyntheticScene.Render(new Random(3), 600));
        using var large = scene.Resize(new SKImageInfo(4032, 3024), SKFilterQuality.Medium);
        File.WriteAllBytes(Path.Combine(dir, "large.jpg"), TestPictures.Encode(large, SKEncodedImageFormat.Jpeg, 90));
        using var stored = TestPictures.Stored(scene, 6);
        File.WriteAllBytes(Path.Combine(dir, "turned.jpg"), TestPictures.JpegWithOrientation(stored, 6));
        foreach (var file in new[] { "large.jpg", "turned.jpg" })
        {
            var path = Path.Combine(dir, file);
            using var decoded = ImageDecoder.Decode(path, 224).Image!;
            Assert.Null(readers.TryRead(ImageSource.FromFile(path), actual));
            Assert.Equal(MlNetPlanes(ml, decoded, 224), actual);
        }
    }
}
