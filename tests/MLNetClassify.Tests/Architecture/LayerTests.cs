using MLNetClassify.Cli.Demo;

namespace MLNetClassify.Tests.Architecture;

/// <summary>
/// The library's folders depend downward only, in the order docs/architecture.md lists them
/// (<see cref="DocsTests"/> checks that the page and <see cref="Layers"/> agree). Each folder src/MLNetClassify/X is
/// the namespace MLNetClassify.X; the root namespace (ImageClassificationCatalog, MLContextExtensions) sits above
/// every folder. The check reads the compiled MLNetClassify.dll's metadata (<see cref="TypeUseScanner"/>) rather than
/// the sources: every way C# can name a type — a using, `using static`, an alias, a fully qualified or `global::`
/// name, a lambda's closure, a generic argument — compiles to the same type references, and the build output of either
/// flavour cannot be mistaken for a folder. Constants and nameof leave no reference and are not seen.
/// </summary>
public class LayerTests
{
    /// <summary>Bottom first; folders on one line are siblings (none uses another).</summary>
    internal static readonly string[][] Layers =
    [
        ["Numerics"],
        ["Data"],
        ["Images"],
        ["Onnx"],
        ["Backbones"],
        ["Featurization"],
        ["Learning"],
        ["Pooling", "Heads", "Perceptrons", "Tuning"],
        ["Models"],
        ["Serving", "Explanations", "Export"],
        ["Training"],
    ];

    private const string Root = "MLNetClassify";

    /// <summary>The layer of a folder, the root namespace ("") above them all; -1 for a folder not in the order.</summary>
    private static int LevelOf(string folder) => folder == "" ? Layers.Length : Array.FindIndex(Layers, level => level.Contains(folder));

    /// <summary>The folder of a library namespace ("" for the root namespace), null for a namespace outside the library's.</summary>
    private static string? FolderOf(string ns) =>
        ns == Root ? "" : ns.StartsWith(Root + ".", StringComparison.Ordinal) ? ns[(Root.Length + 1)..].Split('.')[0] : null;

    private static readonly Lazy<List<TypeUse>> LibraryUses = new(() => TypeUseScanner.Scan(typeof(ImageClassificationCatalog).Assembly.Location));

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

    [Fact]
    public void CompiledNamespaces_AreTheRootAndTheLayerFolders()
    {
        // The layer check knows a type's folder by its namespace: a namespace of no folder would go unchecked.
        var namespaces = typeof(ImageClassificationCatalog).Assembly.GetTypes().Select(t => t.Namespace ?? "").Distinct().ToList();
        var unknown = namespaces.Where(n => FolderOf(n) is { } f && LevelOf(f) < 0).ToList();
        Assert.True(unknown.Count == 0, "namespaces of no folder in LayerTests.Layers: " + string.Join(", ", unknown));
        var empty = Layers.SelectMany(l => l).Where(f => !namespaces.Any(n => FolderOf(n) == f)).ToList();
        Assert.True(empty.Count == 0, "folders with no type in namespace MLNetClassify.<folder>: " + string.Join(", ", empty));
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void Folder_UsesOnlyTypesFromFoldersBelowIt(string folder)
    {
        int level = LevelOf(folder);
        var problems = LibraryUses.Value
            .Where(u => FolderOf(u.UserNamespace) == folder && FolderOf(u.UsedNamespace) is { } used && used != folder && LevelOf(used) >= level)
            .Select(u => $"{folder}/{u.User} uses {(u.UsedNamespace == Root ? Root : FolderOf(u.UsedNamespace))}.{u.Used} (via {u.Via})")
            .Distinct()
            .ToList();
        var below = Layers.Take(level).SelectMany(l => l).ToList();
        Assert.True(problems.Count == 0, $"{folder} may use {(below.Count == 0 ? "no other folder" : "only " + string.Join(", ", below))}:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void Scanner_SeesUsesThatLeaveNoUsingLine()
    {
        // The probes below name their targets only in ways a using-line regex missed; each must show up as a use.
        var uses = TypeUseScanner.Scan(typeof(LayerTests).Assembly.Location)
            .Where(u => u.User.StartsWith($"{nameof(LayerTests)}.{nameof(Probes)}", StringComparison.Ordinal))
            .ToList();
        foreach (var (target, via) in new[]
                 {
                     (nameof(ProbeTypeof), "method ByTypeof"),
                     (nameof(ProbeStaticField), "method ByStaticField"),
                     (nameof(ProbeConstructed), "method <ByLambda>"),
                     (nameof(ProbeGenericArgument), "property ByGenericArgument"),
                     (nameof(ProbeAttribute), "attributes"),
                     (nameof(ProbeAttributeArgument), "attributes"),
                 })
            Assert.Contains(uses, u => u.Used == $"{nameof(LayerTests)}.{target}" && u.Via.StartsWith(via, StringComparison.Ordinal));
        Assert.DoesNotContain(uses, u => u.Used.EndsWith(nameof(ProbeConstant), StringComparison.Ordinal)); // folded into the IL
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
        Assert.DoesNotContain(nameof(LogoDataset), types);
    }

    internal static class ProbeTypeof;
    internal static class ProbeStaticField { internal static readonly int Value = 1; }
    internal sealed class ProbeConstructed;
    internal sealed class ProbeGenericArgument;
    internal sealed class ProbeAttributeArgument;
    internal sealed class ProbeAttribute(Type type) : Attribute { public Type Type { get; } = type; }
    internal static class ProbeConstant { internal const int Value = 2; }

    [ProbeAttribute(typeof(ProbeAttributeArgument))]
    private sealed class Probes
    {
        internal List<global::MLNetClassify.Tests.Architecture.LayerTests.ProbeGenericArgument>? ByGenericArgument { get; set; }
        internal static Type ByTypeof() => typeof(MLNetClassify.Tests.Architecture.LayerTests.ProbeTypeof);
        internal static int ByStaticField() => ProbeStaticField.Value + ProbeConstant.Value;
        internal static Func<object> ByLambda() => () => new ProbeConstructed();
    }
}
