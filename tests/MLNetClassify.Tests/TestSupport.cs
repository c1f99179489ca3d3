using MLNetClassify.Data;
using MLNetClassify.Data.Synthetic;

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
        var dir = Path.Combine(Path.GetTempPath(), "mlnc-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MLNetClassify.sln")))
                return dir.FullName;
        throw new InvalidOperationException("MLNetClassify.sln not found above the test binaries.");
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
