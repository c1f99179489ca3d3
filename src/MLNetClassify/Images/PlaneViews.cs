namespace MLNetClassify.Images;

/// <summary>
/// One augmented view of an image's S×S RGB planes (0–255): a crop rectangle (fractions of the side) resized back to
/// S×S bilinearly, an optional horizontal flip, and brightness/contrast factors.
/// </summary>
/// <param name="Flip">Mirror left to right.</param>
/// <param name="X">Left edge of the crop, as a fraction of the side.</param>
/// <param name="Y">Top edge of the crop.</param>
/// <param name="Width">Crop width, as a fraction of the side (1 for the whole image).</param>
/// <param name="Height">Crop height.</param>
/// <param name="Brightness">Multiplies every value (1 for none).</param>
/// <param name="Contrast">Scales the distance from mid-grey 127.5 (1 for none).</param>
internal readonly record struct PlaneView(bool Flip, float X, float Y, float Width, float Height, float Brightness, float Contrast)
{
    /// <summary>The image as it is.</summary>
    public static PlaneView Identity { get; } = new(false, 0, 0, 1, 1, 1, 1);

    /// <summary>The image mirrored left to right.</summary>
    public static PlaneView Flipped { get; } = Identity with { Flip = true };

    /// <summary>Smallest crop area, as a fraction of the image (torchvision's 0.08 is too harsh for a frozen backbone).</summary>
    public const float MinArea = 0.35f;

    /// <summary>Largest brightness or contrast change (±).</summary>
    public const float Jitter = 0.1f;

    /// <summary>
    /// A random resized crop (area <see cref="MinArea"/>–1, aspect ratio 3/4–4/3), flipped with probability ½, with mild
    /// colour jitter; the same for the same (<paramref name="seed"/>, <paramref name="key"/>, <paramref name="view"/>).
    /// </summary>
    public static PlaneView Random(int seed, ulong key, int view)
    {
        ulong state = Mix((ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ Mix(key) ^ (ulong)(uint)view * 0xD1B54A32D192ED03UL);
        double Next()
        {
            state = Mix(state + 0x9E3779B97F4A7C15UL);
            return (state >> 11) * (1.0 / (1UL << 53));
        }
        double area = MinArea + (1 - MinArea) * Next();
        double aspect = Math.Exp(Math.Log(3.0 / 4) + (Math.Log(4.0 / 3) - Math.Log(3.0 / 4)) * Next());
        double w = Math.Min(1, Math.Sqrt(area * aspect)), h = Math.Min(1, Math.Sqrt(area / aspect));
        double x = (1 - w) * Next(), y = (1 - h) * Next();
        bool flip = Next() < 0.5;
        double brightness = 1 + Jitter * (2 * Next() - 1), contrast = 1 + Jitter * (2 * Next() - 1);
        return new PlaneView(flip, (float)x, (float)y, (float)w, (float)h, (float)brightness, (float)contrast);
    }

    /// <summary>splitmix64's finaliser.</summary>
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Writes this view of the 3×S×S planes <paramref name="source"/> to <paramref name="destination"/>.</summary>
    public void Apply(ReadOnlySpan<float> source, Span<float> destination, int size)
    {
        int plane = size * size;
        if (source.Length != 3 * plane || destination.Length != 3 * plane)
            throw new ArgumentException($"Expected 3×{size}×{size} values.");
        bool crop = X != 0 || Y != 0 || Width != 1 || Height != 1;
        bool colour = Brightness != 1 || Contrast != 1;
        for (int c = 0; c < 3; c++)
        {
            var src = source.Slice(c * plane, plane);
            var dst = destination.Slice(c * plane, plane);
            for (int oy = 0; oy < size; oy++)
            {
                double sy = crop ? Math.Clamp(Y * size + (oy + 0.5) * Height - 0.5, 0, size - 1) : oy;
                int y0 = (int)sy, y1 = Math.Min(y0 + 1, size - 1);
                float fy = (float)(sy - y0);
                for (int ox = 0; ox < size; ox++)
                {
                    int tx = Flip ? size - 1 - ox : ox;
                    float v;
                    if (!crop)
                        v = src[oy * size + ox];
                    else
                    {
                        double sx = Math.Clamp(X * size + (ox + 0.5) * Width - 0.5, 0, size - 1);
                        int x0 = (int)sx, x1 = Math.Min(x0 + 1, size - 1);
                        float fx = (float)(sx - x0);
                        float top = src[y0 * size + x0] + (src[y0 * size + x1] - src[y0 * size + x0]) * fx;
                        float bottom = src[y1 * size + x0] + (src[y1 * size + x1] - src[y1 * size + x0]) * fx;
                        v = top + (bottom - top) * fy;
                    }
                    if (colour)
                        v = Math.Clamp(((v - 127.5f) * Contrast + 127.5f) * Brightness, 0f, 255f);
                    dst[oy * size + tx] = v;
                }
            }
        }
    }
}
