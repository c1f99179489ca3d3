using System.Diagnostics;
using MLNetClassify.Testing;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// N damaged copies of a model zip through every way the library opens one: how each ended, per kind of damage, the
/// exceptions that were not a clear refusal, the slowest opening, and the process's peak memory.
/// ... -- zipfuzz MODEL_ZIP IMAGE WORK_DIR [N=1000] [SEED=1] [KIND] (KIND: only the copies of that kind among the N, the same copies as in the whole run)
/// </summary>
internal static class ZipFuzzLab
{
    public static int Run(string model, string image, string work, int count, int seed, string? only = null)
    {
        Directory.CreateDirectory(work);
        var original = File.ReadAllBytes(model);
        var tally = new Dictionary<(string Kind, string Opening, string Result), int>();
        var bugs = new Dictionary<string, (int Count, string Example)>();
        var slowest = (Seconds: 0.0, What: "");
        var wall = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            if (only is not null && ZipMutations.Kinds[i % ZipMutations.Kinds.Length] != only)
                continue;
            var (kind, bytes) = ZipMutations.Mutate(original, i, seed);
            var path = Path.Combine(work, $"damaged-{i}.zip");
            File.WriteAllBytes(path, bytes);
            foreach (var (name, open) in ModelOpenings.All)
            {
                var clock = Stopwatch.StartNew();
                var outcome = ModelOpenings.Run(path, image, [(name, open)]).Single();
                if (clock.Elapsed.TotalSeconds > slowest.Seconds) slowest = (clock.Elapsed.TotalSeconds, $"#{i} {kind}, {name}");
                tally[(kind, name, outcome.Result)] = tally.GetValueOrDefault((kind, name, outcome.Result)) + 1;
                if (outcome.Result == "bug")
                {
                    var key = $"{name}: {outcome.Error!.GetType().Name}";
                    bugs[key] = (bugs.GetValueOrDefault(key).Count + 1, bugs.GetValueOrDefault(key).Example ?? $"#{i} {kind}: {outcome.Error.Message}");
                }
            }
            File.Delete(path);
            if ((i + 1) % 50 == 0)
                Console.Error.WriteLine($"  {i + 1}/{count} zips, {wall.Elapsed.TotalSeconds:F0} s, peak {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576} MiB");
        }
        Console.WriteLine($"{(only is null ? count : $"the {only} ones of {count}")} damaged copies of {model} ({original.Length / 1e6:F1} MB), seed {seed}, {wall.Elapsed.TotalSeconds:F0} s, {Environment.ProcessorCount} cores");
        foreach (var group in tally.GroupBy(t => (t.Key.Kind, t.Key.Opening)).OrderBy(g => g.Key.Kind).ThenBy(g => g.Key.Opening))
            Console.WriteLine($"  {group.Key.Kind,-17} {group.Key.Opening,-52} " + string.Join(", ", group.OrderBy(g => g.Key.Result).Select(g => $"{g.Key.Result} {g.Value}")));
        Console.WriteLine($"not a clear refusal: {bugs.Values.Sum(b => b.Count)}");
        foreach (var (key, (n, example)) in bugs.OrderByDescending(b => b.Value.Count))
            Console.WriteLine($"  {n,5} × {key}   e.g. {example}");
        Console.WriteLine($"slowest opening: {slowest.Seconds:F2} s ({slowest.What}); peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576} MiB");
        return bugs.Count == 0 ? 0 : 1;
    }
}
