using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetClassify.Data;

/// <summary>Loads labelled images from a folder per label, a manifest file, or memory.</summary>
public static class ImageDataset
{
    /// <summary>File endings read as images (case-insensitive): the formats the decoder reads, PNG, JPEG, GIF, BMP and WebP.</summary>
    public static IReadOnlySet<string> ImageExtensions { get; } =
        new HashSet<string>([".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"], StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Every image under <paramref name="directory"/>, labelled by the name of its immediate sub-folder
    /// (images deeper down take the top sub-folder's name). Sorted by label, then path, ordinally.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">No sub-folder holds an image.</exception>
    public static IReadOnlyList<LabeledImage> FromFolder(string directory) => FromFolder(directory, out _);

    /// <summary>
    /// Every image under <paramref name="directory"/>, as <see cref="FromFolder(string)"/>, and notes on what was left
    /// out or looks wrong, one sentence each: files that are not an image format read here (counted by ending),
    /// directory links below a label folder (not followed: a link to a parent would loop and relabel other classes'
    /// images), label folders with no image, and labels that differ only by case.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">No sub-folder holds an image.</exception>
    public static IReadOnlyList<LabeledImage> FromFolder(string directory, out IReadOnlyList<string> notes)
    {
        var root = Path.GetFullPath(directory);
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"Data folder not found: {root}");
        var images = new List<LabeledImage>();
        var others = new SortedDictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var links = new List<string>();
        var empty = new List<string>();
        foreach (var labelDir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            string label = Path.GetFileName(labelDir);
            int before = images.Count;
            var pending = new Stack<string>([labelDir]);
            while (pending.Count > 0)
            {
                var dir = pending.Pop();
                foreach (var file in Directory.EnumerateFiles(dir))
                {
                    if (IsImageFile(file))
                        images.Add(new LabeledImage(file, label));
                    else
                    {
                        var ending = Path.GetExtension(file).ToLowerInvariant();
                        others[ending] = others.GetValueOrDefault(ending) + 1;
                    }
                }
                foreach (var sub in Directory.EnumerateDirectories(dir))
                {
                    if (new DirectoryInfo(sub).LinkTarget is not null)
                        links.Add(Path.GetRelativePath(root, sub));
                    else
                        pending.Push(sub);
                }
            }
            if (images.Count == before)
                empty.Add(label);
        }
        if (images.Count == 0)
            throw new InvalidDataException($"No images in {root}: expected one sub-folder per label holding {string.Join(" ", ImageExtensions)} files.");

        var found = new List<string>();
        if (others.Count > 0)
            found.Add(LeftOutNote(others));
        if (links.Count > 0)
            found.Add($"did not follow {links.Count} directory link(s) below a label folder: {string.Join(", ", links.Order(StringComparer.Ordinal))}");
        if (empty.Count > 0)
            found.Add($"label folder(s) with no image, left out: {string.Join(", ", empty)}");
        foreach (var group in images.Select(i => i.Label).Distinct().GroupBy(l => l, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
            found.Add($"labels that differ only by case are different classes: {string.Join(", ", group.Order(StringComparer.Ordinal))}");
        notes = found;
        return Sort(images);
    }

    /// <summary>The sentence naming files left out because they are not an image format read here, by ending and count.</summary>
    internal static string LeftOutNote(IReadOnlyDictionary<string, int> countByEnding) =>
        $"left out {countByEnding.Values.Sum()} file(s) that are not images read here (PNG, JPEG, GIF, BMP, WebP): "
        + string.Join(", ", countByEnding.Select(e => $"{(e.Key.Length == 0 ? "(no ending)" : e.Key)} ×{e.Value}"));

    /// <summary>
    /// Images listed in a manifest: a header naming a <c>path</c> and a <c>label</c> column (any order, other
    /// columns ignored), tab-separated when the header has a tab, else comma-separated as CSV (a field holding a comma in
    /// double quotes; every line with the header's number of fields). Relative paths are
    /// resolved against <paramref name="baseDirectory"/>, by default the manifest's folder.
    /// </summary>
    /// <exception cref="FileNotFoundException">The manifest does not exist.</exception>
    /// <exception cref="InvalidDataException">A header column is missing or a line is malformed; the message names the line.</exception>
    public static IReadOnlyList<LabeledImage> FromManifest(string manifestPath, string? baseDirectory = null)
    {
        if (!File.Exists(manifestPath))
            throw new FileNotFoundException($"Manifest not found: {manifestPath}", manifestPath);
        baseDirectory ??= Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        using var reader = new StreamReader(manifestPath);
        string header = reader.ReadLine() ?? throw new InvalidDataException($"{manifestPath}: empty manifest.");
        char separator = header.Contains('\t') ? '\t' : ',';
        var columns = (Fields(header, separator) ?? throw new InvalidDataException($"{manifestPath}:1: a quote is not closed."))
            .Select(c => c.Trim().ToLowerInvariant()).ToList();
        int pathIndex = columns.IndexOf("path"), labelIndex = columns.IndexOf("label");
        if (pathIndex < 0 || labelIndex < 0)
            throw new InvalidDataException($"{manifestPath}: the header must name 'path' and 'label' columns; found: {header}");
        var images = new List<LabeledImage>();
        int lineNumber = 1;
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var fields = Fields(line, separator)
                ?? throw new InvalidDataException($"{manifestPath}:{lineNumber}: a quote is not closed (a quoted field must end on its line).");
            if (fields.Count != columns.Count)
                throw new InvalidDataException($"{manifestPath}:{lineNumber}: expected {columns.Count} fields, found {fields.Count}"
                    + (separator == ',' ? " (quote a field that holds a comma: \"a,b.jpg\")." : "."));
            string path = fields[pathIndex].Trim(), label = fields[labelIndex].Trim();
            if (path.Length == 0 || label.Length == 0)
                throw new InvalidDataException($"{manifestPath}:{lineNumber}: empty path or label.");
            images.Add(new LabeledImage(Path.GetFullPath(Path.Combine(baseDirectory, path)), label));
        }
        return images;
    }

    /// <summary>
    /// The fields of one manifest line. Tab-separated lines split on every tab; comma-separated ones as CSV does
    /// (RFC 4180): a field in double quotes may hold commas, and "" inside it stands for one quote. Null when a quote
    /// is not closed on the line.
    /// </summary>
    internal static List<string>? Fields(string line, char separator)
    {
        if (separator != ',')
            return [.. line.Split(separator)];
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c != '"') field.Append(c);
                else if (i + 1 < line.Length && line[i + 1] == '"') { field.Append('"'); i++; }
                else quoted = false;
            }
            else if (c == '"' && field.ToString().Trim().Length == 0) { field.Clear(); quoted = true; }
            else if (c == ',') { fields.Add(field.ToString()); field.Clear(); }
            else field.Append(c);
        }
        if (quoted) return null;
        fields.Add(field.ToString());
        return fields;
    }

    /// <summary>An IDataView with columns ImagePath (text) and Label (text).</summary>
    public static IDataView ToDataView(MLContext mlContext, IEnumerable<LabeledImage> images)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return mlContext.Data.LoadFromEnumerable(images.Select(i => new LabeledImage(i.ImagePath, i.Label)).ToList());
    }

    /// <summary>
    /// An IDataView with columns Image (<see cref="MLImage"/>) and Label, decoding each encoded image.
    /// The caller keeps ownership of nothing: the decoded images live as long as the returned rows.
    /// </summary>
    /// <exception cref="InvalidDataException">An item cannot be decoded; the message names its index.</exception>
    public static IDataView FromEncodedImages(MLContext mlContext, IEnumerable<(Stream Image, string Label)> images)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        var rows = new List<InMemoryImage>();
        int index = 0;
        foreach (var (stream, label) in images)
        {
            try
            {
                rows.Add(new InMemoryImage { Image = MLImage.CreateFromStream(stream), Label = label });
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException)
            {
                throw new InvalidDataException($"In-memory image #{index} (label '{label}') cannot be decoded: {e.Message}", e);
            }
            index++;
        }
        return mlContext.Data.LoadFromEnumerable(rows);
    }

    /// <summary>Whether <paramref name="path"/> ends in an image extension.</summary>
    public static bool IsImageFile(string path) => ImageExtensions.Contains(Path.GetExtension(path));

    internal static List<LabeledImage> Sort(IEnumerable<LabeledImage> images) => images
        .OrderBy(i => i.Label, StringComparer.Ordinal)
        .ThenBy(i => i.ImagePath, StringComparer.Ordinal)
        .ToList();
}
