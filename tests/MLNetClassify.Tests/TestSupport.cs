using MLNetClassify.Cli.Demo;
using MLNetClassify.Data;

namespace MLNetClassify.Tests;

/// <summary>Where things are: the repository, the shared data folder beside it, scratch folders.</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>../shared/data beside the repository, or null when this checkout has none.</summary>
    public static string? SharedData
    {
        get
        {
            var path = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data"));
            return Directory.Exists(path) ? path : null;
        }
    }

    /// <summary>Skips the calling test, saying why, when ../shared/data is absent; else returns it.</summary>
    public static string RequireSharedData(string set)
    {
        Skip.If(SharedData is null, $"needs ../shared/data beside the repository (the {set} image set); this checkout has none.");
        var path = Path.Combine(SharedData!, set);
        Skip.IfNot(Directory.Exists(path), $"../shared/data/{set} is missing.");
        return path;
    }

    public static string NewTempDirectory()
    {
        var dir = Path.Combine(RunRoot, Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>
    /// This test run's folder under the temp folder, named by process id: removed when the run ends, and any
    /// left by runs whose process is gone (killed, crashed) are removed when the next run starts.
    /// </summary>
    public static string RunRoot { get; } = CreateRunRoot();

    private static string CreateRunRoot()
    {
        var parent = Path.Combine(Path.GetTempPath(), "mlnc-tests");
        Directory.CreateDirectory(parent);
        foreach (var stale in Directory.GetDirectories(parent))
            if (int.TryParse(Path.GetFileName(stale), out int pid) && pid != Environment.ProcessId && !MLNetClassify.Data.AtomicFile.ProcessRuns(pid))
                TryDelete(stale);
        var root = Path.Combine(parent, Environment.ProcessId.ToString());
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(root);
        return root;
    }

    private static void TryDelete(string directory)
    {
        try { Directory.Delete(directory, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MLNetClassify.sln")))
                return dir.FullName;
        throw new InvalidOperationException("MLNetClassify.sln not found above the test binaries.");
    }
}

/// <summary>
/// Temporary files of this test run go under its run folder (removed at exit): ML.NET writes a copy of every ONNX graph
/// it loads or fits (30–60 MB) and deletes it only when the model is disposed, which tests that keep models do not do.
/// The CLI processes the tests start inherit it.
/// </summary>
internal static class TemporaryFolder
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Redirect()
    {
        var folder = Path.Combine(TestPaths.RunRoot, "tmp");
        Directory.CreateDirectory(folder);
        Environment.SetEnvironmentVariable("TMPDIR", folder);
    }
}

/// <summary>Small images made on the fly, so core tests need no data from outside the repository.</summary>
internal static class TestImages
{
    /// <summary>A Logo-vs-Other folder with <paramref name="perClass"/> images per label.</summary>
    public static IReadOnlyList<LabeledImage> LogoFolder(string directory, int perClass, int seed = 1, int size = 224) =>
        LogoDataset.Generate(directory, new LogoDatasetOptions { ImagesPerClass = perClass, Seed = seed, Size = size });

    /// <summary>Encoded JPEG bytes of one generated image.</summary>
    public static byte[] Jpeg(int seed, bool withLogo, int size = 96) => LogoDataset.Render(new Random(seed), size, withLogo);
}

/// <summary>
/// Images a perceptron on raw pixels can learn: each label has its own colour (red, green, blue), jittered, under
/// random grey rectangles. The perceptron tests use them because a logo at a random place is beyond a pixel model.
/// </summary>
internal static class ColourImages
{
    public static readonly string[] Labels = ["blue", "green", "red"];

    public static IReadOnlyList<LabeledImage> Folder(string directory, int perClass, int seed = 1, int size = 40)
    {
        var rng = new Random(seed);
        for (int k = 0; k < Labels.Length; k++)
        {
            var folder = Path.Combine(directory, Labels[k]);
            Directory.CreateDirectory(folder);
            for (int i = 0; i < perClass; i++)
                File.WriteAllBytes(Path.Combine(folder, $"{i:D3}.png"), Render(rng, k, size));
        }
        return ImageDataset.FromFolder(directory);
    }

    private static byte[] Render(Random rng, int label, int size)
    {
        int Jitter(int v) => Math.Clamp(v + rng.Next(-40, 41), 0, 255);
        var colour = label switch
        {
            0 => new SkiaSharp.SKColor((byte)Jitter(40), (byte)Jitter(60), (byte)Jitter(200)),
            1 => new SkiaSharp.SKColor((byte)Jitter(50), (byte)Jitter(190), (byte)Jitter(60)),
            _ => new SkiaSharp.SKColor((byte)Jitter(200), (byte)Jitter(50), (byte)Jitter(50)),
        };
        using var bitmap = new SkiaSharp.SKBitmap(size, size);
        using (var canvas = new SkiaSharp.SKCanvas(bitmap))
        {
            canvas.Clear(colour);
            using var paint = new SkiaSharp.SKPaint();
            for (int r = 0; r < 3; r++)
            {
                byte grey = (byte)rng.Next(256);
                paint.Color = new SkiaSharp.SKColor(grey, grey, grey);
                float x = rng.Next(size), y = rng.Next(size);
                canvas.DrawRect(x, y, rng.Next(4, size / 3), rng.Next(4, size / 3), paint);
            }
        }
        using var image = SkiaSharp.SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
