using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MLNetClassify.Data;

namespace MLNetClassify.Cli.Commands;

/// <summary>
/// The results file of <c>predict --out</c>: a header line naming the shard, then one <c>predict --json</c> line per image
/// of the shard, written atomically. The header lets <c>predict --merge</c> check that it holds every shard of one list
/// scored by one model, and put the lines back in the list's order.
/// </summary>
internal static class PredictionFiles
{
    /// <summary>The first line of a results file.</summary>
    /// <param name="Shard">Which share of the list, i/n.</param>
    /// <param name="ListImages">How many images the whole list has (every shard's).</param>
    /// <param name="Images">How many prediction lines follow: this shard's images.</param>
    /// <param name="ListSha256">Hash of the whole list of paths: tasks that saw different lists must not be merged.</param>
    /// <param name="ModelSha256">Hash of the model file's bytes.</param>
    internal sealed record Header(string Shard, int ListImages, int Images, string ListSha256, string ModelSha256);

    /// <summary>The hash of a list of paths, in order.</summary>
    public static string ListHash(IEnumerable<string> paths) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', paths))));

    /// <summary>
    /// Reads shard results files and returns their prediction lines in the order of the list they share, or the
    /// problems that keep them from making one whole (each naming its file or shard); never a partial merge.
    /// </summary>
    public static (List<string> Lines, List<string> Problems) Merge(IReadOnlyList<string> files)
    {
        var problems = new List<string>();
        var shards = new List<(string File, Header Header, Shard Shard, List<string> Lines)>();
        foreach (var file in files)
        {
            if (Read(file, problems) is { } read) shards.Add(read);
        }
        if (shards.Count == 0)
        {
            if (problems.Count == 0) problems.Add("no results file given.");
            return ([], problems);
        }
        var first = shards[0];
        foreach (var s in shards.Skip(1))
        {
            if (s.Shard.Count != first.Shard.Count)
                problems.Add($"{s.File} is shard {s.Shard}, {first.File} is shard {first.Shard}: shards of different counts (a task ran with another --shard).");
            else if (s.Header.ListSha256 != first.Header.ListSha256 || s.Header.ListImages != first.Header.ListImages)
                problems.Add($"{s.File} and {first.File} were made from different lists of images ({s.Header.ListImages} and {first.Header.ListImages} "
                    + "images; the folder changed between tasks, or they were given other paths).");
            else if (s.Header.ModelSha256 != first.Header.ModelSha256)
                problems.Add($"{s.File} and {first.File} were scored by different models.");
        }
        foreach (var twice in shards.GroupBy(s => s.Shard.Index).Where(g => g.Count() > 1))
            problems.Add($"shard {twice.First().Shard} is given twice: {string.Join(" and ", twice.Select(s => s.File))}.");
        if (problems.Count > 0) return ([], problems);

        int count = first.Shard.Count;
        var missing = Enumerable.Range(0, count).Except(shards.Select(s => s.Shard.Index)).Select(i => $"{i}/{count}").ToList();
        if (missing.Count > 0)
            return ([], [$"missing shard{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} (no results file given for {(missing.Count > 1 ? "them" : "it")}; run those tasks again)."]);

        var byIndex = shards.OrderBy(s => s.Shard.Index).ToList();
        var merged = new List<string>(first.Header.ListImages);
        for (int k = 0; k < first.Header.ListImages; k++)
            merged.Add(byIndex[k % count].Lines[k / count]);
        return (merged, []);
    }

    private static (string, Header, Shard, List<string>)? Read(string file, List<string> problems)
    {
        if (!File.Exists(file))
        {
            problems.Add($"{file}: not found (its task has not finished, or failed: run it again).");
            return null;
        }
        List<string> lines;
        try
        {
            lines = File.ReadAllLines(file).Where(l => l.Length > 0).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Add($"{file}: cannot be read ({e.Message}).");
            return null;
        }
        Header? header = null;
        Shard shard = default;
        try
        {
            header = lines.Count > 0 ? JsonSerializer.Deserialize(lines[0], CliJson.Default.ShardHeader) : null;
            if (header?.Shard is not null) shard = Shard.Parse(header.Shard, new Dictionary<string, string>());
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            header = null;
        }
        if (header?.Shard is null || header.ListSha256 is null || header.ModelSha256 is null)
        {
            problems.Add($"{file}: not a results file of predict --out (its first line is not the shard header).");
            return null;
        }
        int expected = header.ListImages <= shard.Index ? 0 : (header.ListImages - shard.Index + shard.Count - 1) / shard.Count; // k ≡ Index (mod Count)
        if (header.Images != expected)
        {
            problems.Add($"{file}: its header says shard {shard} has {header.Images} images; a list of {header.ListImages} gives it {expected} (damaged).");
            return null;
        }
        if (lines.Count - 1 != header.Images)
        {
            problems.Add($"{file}: {lines.Count - 1} prediction lines where its header says {header.Images} (damaged or cut).");
            return null;
        }
        for (int i = 1; i < lines.Count; i++)
        {
            PredictCommand.Line? line = null;
            try { line = JsonSerializer.Deserialize(lines[i], CliJson.Default.PredictLine); }
            catch (JsonException) { }
            if (line?.Path is not { Length: > 0 } || (line.Label is null && line.Error is null))
            {
                problems.Add($"{file} line {i + 1}: not a prediction line (damaged).");
                return null;
            }
        }
        return (file, header, shard, lines.Skip(1).ToList());
    }

    /// <summary>Writes <paramref name="lines"/> to <paramref name="path"/> atomically (old file or whole new one).</summary>
    public static void WriteLines(string path, IEnumerable<string> lines) =>
        AtomicFile.Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true);
            foreach (var line in lines) writer.WriteLine(line);
        });
}
