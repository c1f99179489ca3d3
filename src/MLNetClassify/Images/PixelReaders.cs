using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetClassify.Images;

/// <summary>
/// Turns images into pixel planes: files through <see cref="ImageDecoder"/> (header first, size limit, DCT-scaled
/// JPEG, EXIF orientation), then the stock resize and pixel transforms of <see cref="ImagePreparation"/>, one
/// PredictionEngine per thread (they are not thread-safe); says why when an image cannot be read.
/// </summary>
internal sealed class PixelReaders : IDisposable
{
    private readonly ThreadLocal<PredictionEngine<ImageRow, PixelsRow>> _fromImage;
    private readonly ThreadLocal<PixelsRow> _output = new(() => new PixelsRow());
    private readonly int _size;
    private readonly ImageDecoding _decoding;

    public PixelReaders(MLContext mlContext, int size, ImageDecoding? decoding = null)
    {
        _size = size;
        _decoding = decoding ?? ImageDecoding.Default;
        var emptyImages = mlContext.Data.LoadFromEnumerable(Array.Empty<ImageRow>());
        var imageModel = ImagePreparation.Estimators(mlContext, nameof(ImageRow.Image), inputIsPath: false, size).Fit(emptyImages);
        _fromImage = new(() => mlContext.Model.CreatePredictionEngine<ImageRow, PixelsRow>(imageModel, new PredictionEngineOptions { OwnsTransformer = false }), trackAllValues: true);
    }

    /// <summary>Writes the image's pixel planes to <paramref name="destination"/>; returns null, or why it failed.</summary>
    public string? TryRead(ImageSource source, Span<float> destination)
    {
        var output = _output.Value!;
        try
        {
            if (source.Path is { } path)
            {
                var decoded = ImageDecoder.Decode(path, _size, _decoding);
                if (decoded.Problem is { } problem)
                    return problem;
                using var image = decoded.Image!;
                _fromImage.Value!.Predict(new ImageRow { Image = image }, ref output);
            }
            else
            {
                _fromImage.Value!.Predict(new ImageRow { Image = source.Image }, ref output);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"not a readable image ({FirstLine(e.Message)})";
        }
        if (output.Pixels.Length != destination.Length)
            return $"decoded to {output.Pixels.Length} values, expected {destination.Length}";
        output.Pixels.CopyTo(destination);
        return null;
    }

    private static string FirstLine(string message)
    {
        int end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }

    public void Dispose()
    {
        foreach (var engine in _fromImage.Values) engine.Dispose();
        _fromImage.Dispose();
        _output.Dispose();
    }
}
