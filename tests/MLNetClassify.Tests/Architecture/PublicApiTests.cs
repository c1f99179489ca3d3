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

    /// <summary>A type as PublicAPI.txt writes it: namespace-qualified, nested types with '.', generics as Name&lt;T&gt;.</summary>
    private static string ApiName(Type type)
    {
        var name = type.IsNested ? $"{ApiName(type.DeclaringType!)}.{type.Name}" : type.FullName!;
        int tick = name.IndexOf('`');
        return tick < 0 ? name : $"{name[..tick]}<{string.Join(", ", type.GetGenericArguments().Select(a => a.Name))}>";
    }

    [Fact]
    public void PublicTypes_AreExactlyTheTypesThePublicApiFilesDeclare()
    {
        // A declared type is a line with no member part ("->") and no modifier: e.g. "MLNetClassify.Learning.EpochPhase".
        var declared = Declared().Where(l => !l.Contains("->") && !l.Contains(' ') && !l.Contains('(')).ToHashSet();
        var exported = typeof(MLContextExtensions).Assembly.GetExportedTypes().Select(ApiName).ToHashSet();
        Assert.True(declared.SetEquals(exported),
            $"public but not declared: {string.Join(", ", exported.Except(declared))}; declared but not public: {string.Join(", ", declared.Except(exported))}");
        // The shipped surface stays small: what later work adds is in PublicAPI.Unshipped.txt, where a reviewer sees it.
        Assert.InRange(File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "src", "MLNetClassify", "PublicAPI.Shipped.txt"))
            .Count(l => l.Length > 0 && !l.StartsWith('#') && !l.Contains("->") && !l.Contains(' ') && !l.Contains('(')), 1, 30);
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
