using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Backbones;

/// <summary>The first step: RGB planes 0–255 to what the backbone's input expects (crop, channel order, scale, mean, std, layout).</summary>
internal static partial class FeaturizerGraph
{
    private static void AddPreprocessing(GraphProto graph, BackboneSpec spec, long opset)
    {
        string current = InputName;
        if (spec.ResizeSize != spec.InputSize)
            current = AddCentreCrop(graph, current, spec, opset);
        if (spec.Order == PixelOrder.Bgr)
        {
            graph.Initializer.Add(OnnxBuild.Int64s($"{Prefix}bgr_index", [3], [2, 1, 0]));
            graph.Node.Add(OnnxBuild.Node("Gather", [current, $"{Prefix}bgr_index"], [$"{Prefix}bgr"], OnnxBuild.Attr("axis", 1)));
            current = $"{Prefix}bgr";
        }

        // NCHW graphs take the normalized planes as they are; NHWC ones get them transposed.
        bool nhwc = spec.Layout == TensorLayout.Nhwc;
        string normalized = nhwc ? $"{Prefix}normalized" : spec.InputNode!;
        if (spec.MeanImage is { } meanImage)
        {
            var mean = ReadModel(BackboneSpec.Resolve(meanImage.File), spec.Name).Graph.Initializer
                .FirstOrDefault(t => t.Name == meanImage.Initializer)
                ?? throw new InvalidDataException($"Mean image '{meanImage.Initializer}' not found in {BackboneSpec.Resolve(meanImage.File)}.");
            graph.Initializer.Add(MeanImageAt(mean, spec.InputSize, $"{Prefix}mean_image"));
            if (spec.PixelScale != 1f)
                current = AddScale(graph, current, spec.PixelScale);
            graph.Node.Add(OnnxBuild.Node("Sub", [current, $"{Prefix}mean_image"], [normalized]));
        }
        else
        {
            var (m, s) = spec.Order == PixelOrder.Bgr
                ? (new[] { spec.Mean.B, spec.Mean.G, spec.Mean.R }, new[] { spec.Std.B, spec.Std.G, spec.Std.R })
                : (new[] { spec.Mean.R, spec.Mean.G, spec.Mean.B }, new[] { spec.Std.R, spec.Std.G, spec.Std.B });
            // (x·scale − mean)/std = x·(scale/std) + (−mean/std), one Mul and one Add.
            var a = s.Select(v => spec.PixelScale / v).ToArray();
            var b = m.Zip(s, (mu, sd) => -mu / sd).ToArray();
            graph.Initializer.Add(OnnxBuild.Floats($"{Prefix}norm_a", [1, 3, 1, 1], a));
            graph.Initializer.Add(OnnxBuild.Floats($"{Prefix}norm_b", [1, 3, 1, 1], b));
            graph.Node.Add(OnnxBuild.Node("Mul", [current, $"{Prefix}norm_a"], [$"{Prefix}norm_mul"]));
            graph.Node.Add(OnnxBuild.Node("Add", [$"{Prefix}norm_mul", $"{Prefix}norm_b"], [normalized]));
        }
        if (nhwc)
            graph.Node.Add(OnnxBuild.Node("Transpose", [normalized], [spec.InputNode!], OnnxBuild.Ints("perm", 0, 2, 3, 1)));
    }

    /// <summary>Cuts the centre InputSize×InputSize out of the ResizeSize×ResizeSize planes.</summary>
    private static string AddCentreCrop(GraphProto graph, string input, BackboneSpec spec, long opset)
    {
        long start = (spec.ResizeSize - spec.InputSize) / 2, end = start + spec.InputSize;
        return AddSlice(graph, input, $"{Prefix}crop", [start, start], [end, end], [2, 3], opset);
    }

    /// <summary>The 1×3×H×W mean image, resized bilinearly (half-pixel centres) to size×size when it differs.</summary>
    private static TensorProto MeanImageAt(TensorProto mean, int size, string name)
    {
        int h = (int)mean.Dims[2], w = (int)mean.Dims[3];
        var src = OnnxBuild.ReadFloats(mean);
        if (h == size && w == size)
            return OnnxBuild.Floats(name, [1, 3, size, size], src);
        var dst = new float[3 * size * size];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < size; y++)
            {
                double sy = Math.Clamp((y + 0.5) * h / size - 0.5, 0, h - 1);
                int y0 = (int)sy, y1 = Math.Min(y0 + 1, h - 1);
                double fy = sy - y0;
                for (int x = 0; x < size; x++)
                {
                    double sx = Math.Clamp((x + 0.5) * w / size - 0.5, 0, w - 1);
                    int x0 = (int)sx, x1 = Math.Min(x0 + 1, w - 1);
                    double fx = sx - x0;
                    int p = c * h * w;
                    double top = src[p + y0 * w + x0] * (1 - fx) + src[p + y0 * w + x1] * fx;
                    double bottom = src[p + y1 * w + x0] * (1 - fx) + src[p + y1 * w + x1] * fx;
                    dst[c * size * size + y * size + x] = (float)(top * (1 - fy) + bottom * fy);
                }
            }
        return OnnxBuild.Floats(name, [1, 3, size, size], dst);
    }

    private static string AddScale(GraphProto graph, string input, float scale)
    {
        graph.Initializer.Add(OnnxBuild.Floats($"{Prefix}scale_a", [1], [scale]));
        graph.Node.Add(OnnxBuild.Node("Mul", [input, $"{Prefix}scale_a"], [$"{Prefix}scale"]));
        return $"{Prefix}scale";
    }
}
