using System.Reflection;

namespace MLNetClassify.Tests.Architecture;

/// <summary>The public surface is small and declared; the build (PublicApiAnalyzers) fails on an undeclared change.</summary>
public class PublicApiTests
{
    private static string[] Declared() =>
        File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "src", "MLNetClassify", "PublicAPI.Shipped.txt"))
            .Concat(File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "src", "MLNetClassify", "PublicAPI.Unshipped.txt")))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToArray();

    private static List<Type> PublicTypes() =>
        typeof(MLContextExtensions).Assembly.GetExportedTypes().Where(t => !t.IsNested).OrderBy(t => t.FullName).ToList();

    [Fact]
    public void PublicTypes_TheSettledSurfaceAtMostThirty_AndFewAddedSince()
    {
        // The shipped surface is at most 30 types (PublicAPI.Shipped.txt); later additions go to Unshipped, sparingly:
        // the serving pool and its result (ImageClassifierPool, ImagePrediction), class activation maps (ClassActivationMap),
        // the pooling choice of the accuracy options (FeaturePooling).
        static IEnumerable<string> TypeLines(string file) =>
            File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "src", "MLNetClassify", file)).Where(l => l.Length > 0 && !l.StartsWith('#') && !l.Contains("->"));
        Assert.InRange(TypeLines("PublicAPI.Shipped.txt").Count(), 1, 30);
        var types = PublicTypes();
        Assert.True(types.Count <= 34, $"{types.Count} public types:\n{string.Join("\n", types.Select(t => t.FullName))}");
    }

    [Fact]
    public void EveryPublicType_IsDeclaredInPublicApiFiles()
    {
        var declared = Declared();
        foreach (var type in PublicTypes())
        {
            // PublicAPI.txt writes generic types as Name<T>.
            var name = type.IsGenericTypeDefinition
                ? $"{type.FullName![..type.FullName!.IndexOf('`')]}<{string.Join(", ", type.GetGenericArguments().Select(a => a.Name))}>"
                : type.FullName!;
            Assert.True(declared.Any(l => l == name || l.StartsWith(name + " ") || l.StartsWith(name + ".")), $"{name} is public but not in PublicAPI.*.txt");
        }
    }

    [Fact]
    public void Library_ExposesInternalsOnlyToItsOwnCliTestsAndBenchmarks()
    {
        var friends = typeof(MLContextExtensions).Assembly.GetCustomAttributes<System.Runtime.CompilerServices.InternalsVisibleToAttribute>()
            .Select(a => a.AssemblyName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["MLNetClassify.Benchmarks", "MLNetClassify.Tests", "mlnet-classify"], friends);
    }
}
