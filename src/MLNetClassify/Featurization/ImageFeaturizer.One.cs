using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Images;

namespace MLNetClassify.Featurization;

/// <summary>One image at a time, from many threads: what a service's requests take.</summary>
public sealed partial class ImageFeaturizer
{
    private PixelReaders? _oneReaders;

    /// <summary>
    /// The features of one image, read on the calling thread and run through the session alone (a batch of one), or
    /// null with why in <paramref name="problem"/>. Safe to call from many threads at once: ONNX Runtime sessions take
    /// concurrent calls, and each thread reads with planes of its own. Not cached.
    /// </summary>
    internal float[]? FeaturizeOne(ImageSource image, out string? problem)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(image);
        var readers = LazyInitializer.EnsureInitialized(ref _oneReaders,
            () => new PixelReaders(_backbone.ResizeSize, new ImageDecoding(_options.MaxImagePixels, _options.AcceptIncompleteImages)));
        var pixels = ArrayPool<float>.Shared.Rent(_pixelsPerImage);
        try
        {
            problem = readers.TryRead(image, pixels.AsSpan(0, _pixelsPerImage));
            if (problem is not null)
                return null;
            int side = _backbone.ResizeSize;
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<float>(pixels, 0, _pixelsPerImage), [1, 3, side, side]);
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, [FeaturizerGraph.InputName], [input], [FeaturizerGraph.OutputName]);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            ArrayPool<float>.Shared.Return(pixels);
        }
    }
}
