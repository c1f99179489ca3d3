using System.Reflection;
using System.Text.RegularExpressions;
using MLNetClassify.Cli.Demo;

namespace MLNetClassify.Tests.Architecture;

/// <summary>The library's folders depend downward only, in the order the README lists them.</summary>
public partial class LayerTests
{
    /// <summary>Bottom first; folders on one line are siblings (none imports another).</summary>
    internal static readonly string[][] Layers =
    [
        ["Numerics"],
        ["Data"],
        ["Images"],
        ["Onnx"],
        ["Backbones"],
        ["Featurization"],
        ["Learning"],
        ["Pooling", "Heads", "Perceptrons"],
        ["Persistence"],
        ["Training"],
    ];

    private static int LevelOf(string folder) => Array.FindIndex(Layers, level => level.Contains(folder));

    private static string LibraryRoot => Path.Combine(TestPaths.RepoRoot, "src", "MLNetClassify");

    /// <summary>What the builds write beside the sources: the default flavour's folders and the GPU flavour's (Directory.Build.props).</summary>
    private static readonly string[] BuildFolders = ["bin", "obj", "bin-gpu", "obj-gpu"];

    private static bool IsBuildOutput(string path) => BuildFolders.Contains(Path.GetRelativePath(LibraryRoot, path).Split(Path.DirectorySeparatorChar)[0]);

    public static TheoryData<string> Folders()
    {
        var data = new TheoryData<string>();
        foreach (var folder in Layers.SelectMany(l => l)) data.Add(folder);
        return data;
    }

    [Fact]
    public void EveryFolder_IsInTheLayerOrder()
    {
        var folders = Directory.GetDirectories(LibraryRoot).Where(f => !IsBuildOutput(f)).Select(Path.GetFileName).ToList();
        Assert.All(folders, f => Assert.True(LevelOf(f!) >= 0, $"src/MLNetClassify/{f} is not in the layer order of LayerTests.Layers"));
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void Folder_ImportsOnlyFromFoldersBelowIt(string folder)
    {
        int level = LevelOf(folder);
        var problems = new List<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(LibraryRoot, folder), "*.cs", SearchOption.AllDirectories))
        {
            var lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                // using MLNetClassify.X; and qualified uses such as Persistence.ModelFiles.Load in code.
                var code = lines[i].Split("//")[0];
                foreach (Match m in ImportedFolder().Matches(code))
                {
                    var target = m.Groups["folder"].Value;
                    int targetLevel = LevelOf(target);
                    if (targetLevel >= 0 && target != folder && targetLevel >= level)
                        problems.Add($"{Path.GetRelativePath(LibraryRoot, file)}:{i + 1}: {folder} uses {target} ({lines[i].Trim()})");
                }
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Namespaces_FollowFolders()
    {
        var wrong = Directory.GetFiles(LibraryRoot, "*.cs", SearchOption.AllDirectories)
            .Where(f => !IsBuildOutput(f))
            .Select(f => (File: f, Folder: Path.GetRelativePath(LibraryRoot, Path.GetDirectoryName(f)!)))
            .Where(f => !File.ReadAllText(f.File).Contains($"namespace MLNetClassify{(f.Folder == "." ? "" : "." + f.Folder.Replace(Path.DirectorySeparatorChar, '.'))};"))
            .Select(f => Path.GetRelativePath(LibraryRoot, f.File))
            .ToList();
        Assert.True(wrong.Count == 0, "namespace differs from folder: " + string.Join(", ", wrong));
    }

    [Fact]
    public void Library_HasNoDemoCode()
    {
        // The Logo-vs-Other generator lives in the CLI's demo; calibration and warm-up use neutral generated scenes.
        var types = typeof(MLContextExtensions).Assembly.GetTypes().Select(t => t.Name).ToList();
        Assert.DoesNotContain("LogoDataset", types);
    }

    [GeneratedRegex(@"(?:^\s*using\s+MLNetClassify\.|(?<![\w.])(?=(?:Numerics|Data|Images|Onnx|Backbones|Featurization|Learning|Pooling|Heads|Perceptrons|Persistence|Training)\.[A-Z]))(?<folder>\w+)")]
    private static partial Regex ImportedFolder();
}
