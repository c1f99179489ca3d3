namespace MLNetClassify.Data;

/// <summary>A train/test split of labelled images.</summary>
/// <param name="Train">Images to train on.</param>
/// <param name="Test">Images to evaluate on.</param>
public sealed record DataSplit(IReadOnlyList<LabeledImage> Train, IReadOnlyList<LabeledImage> Test)
{
    /// <summary>
    /// Stratified split, reproducible from <paramref name="seed"/>: labels and files sorted ordinally; one
    /// splitmix64 stream consumed class by class; each class Fisher–Yates shuffled
    /// (for i = n−1..1: j = next() mod (i+1); swap); the first clamp(⌊f·n + 0.5⌋, 1, n−1) files are test.
    /// With f = 0.2 and seed 1 this reproduces the split files in shared/data/splits.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="testFraction"/> is not in (0, 1).</exception>
    public static DataSplit Stratified(IEnumerable<LabeledImage> images, double testFraction = 0.2, ulong seed = 1)
    {
        if (testFraction is <= 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "The test fraction must be in (0, 1).");
        var sorted = ImageDataset.Sort(images).ToArray();
        var classIndex = sorted.Select(i => i.Label).Distinct().Order(StringComparer.Ordinal)
            .Select((label, k) => (label, k)).ToDictionary(p => p.label, p => p.k, StringComparer.Ordinal);
        var (test, train) = StratifiedSplitter.Split(sorted.Select(i => classIndex[i.Label]).ToArray(), testFraction, seed);
        return new DataSplit(train.Select(i => sorted[i]).ToArray(), test.Select(i => sorted[i]).ToArray());
    }

    /// <summary>
    /// Reads a split file: tab-separated, header <c>set	label	path</c>, set ∈ {train, test}, path relative
    /// to <paramref name="dataDirectory"/> and inside it. Checks as <see cref="ReadFile(string, string, bool, out IReadOnlyList{string})"/>
    /// does, without returning its notes.
    /// </summary>
    /// <exception cref="InvalidDataException">Bad header, set name or line; a path outside the data folder; one image in both sets; the message names file and line.</exception>
    /// <exception cref="FileNotFoundException">No such split file.</exception>
    public static DataSplit ReadFile(string splitFile, string dataDirectory) => ReadFile(splitFile, dataDirectory, false, out _);

    /// <summary>
    /// Reads a split file and checks it: a path must stay inside <paramref name="dataDirectory"/> (no absolute path,
    /// no <c>../</c> out of it) unless <paramref name="allowOutsidePaths"/>; one file listed in both sets is an error.
    /// <paramref name="notes"/> gets, with line numbers, a row repeated in its set (counted once) and images listed
    /// under two names with identical bytes in train and test (the test would count an image the model trained on).
    /// </summary>
    /// <exception cref="InvalidDataException">Bad header, set name or line; a path outside the data folder; one image in both sets; the message names file and line.</exception>
    /// <exception cref="FileNotFoundException">No such split file.</exception>
    public static DataSplit ReadFile(string splitFile, string dataDirectory, bool allowOutsidePaths, out IReadOnlyList<string> notes)
    {
        if (!File.Exists(splitFile))
            throw new FileNotFoundException($"Split file not found: {splitFile}", splitFile);
        var root = Path.GetFullPath(dataDirectory);
        var lines = File.ReadAllLines(splitFile);
        if (lines.Length == 0 || lines[0].Trim() != "set\tlabel\tpath")
            throw new InvalidDataException($"{splitFile}:1: expected the header 'set<TAB>label<TAB>path'.");
        var found = new List<string>();
        var rows = new Dictionary<string, (int Line, bool Test)>(StringComparer.Ordinal);
        var train = new List<(LabeledImage Image, int Line)>();
        var test = new List<(LabeledImage Image, int Line)>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            var f = lines[i].Split('\t');
            if (f.Length != 3 || f[1].Length == 0 || f[2].Length == 0)
                throw new InvalidDataException($"{splitFile}:{i + 1}: expected three tab-separated fields: set, label, path.");
            bool isTest = f[0] switch
            {
                "train" => false,
                "test" => true,
                _ => throw new InvalidDataException($"{splitFile}:{i + 1}: set must be 'train' or 'test', found '{f[0]}'."),
            };
            var full = Path.GetFullPath(Path.Combine(root, f[2]));
            if (!allowOutsidePaths && !IsInside(root, full))
                throw new InvalidDataException($"{splitFile}:{i + 1}: '{f[2]}' is {(Path.IsPathRooted(f[2]) ? "an absolute path" : $"{full}")}, outside the data folder {root}; "
                    + "split paths are relative to it (allow paths outside it with --allow-outside-paths, or allowOutsidePaths in app code).");
            if (rows.TryGetValue(full, out var earlier))
            {
                if (earlier.Test != isTest)
                    throw new InvalidDataException($"{splitFile}:{i + 1}: '{f[2]}' is listed for {f[0]} and, on line {earlier.Line}, for {(earlier.Test ? "test" : "train")}: "
                        + "an image may be in one set only.");
                found.Add($"{splitFile}:{i + 1}: '{f[2]}' repeats line {earlier.Line}; counted once.");
                continue;
            }
            rows[full] = (i + 1, isTest);
            (isTest ? test : train).Add((new LabeledImage(full, f[1]), i + 1));
        }
        found.AddRange(SameBytesInBothSets(splitFile, train, test));
        notes = found;
        return new DataSplit(train.Select(t => t.Image).ToList(), test.Select(t => t.Image).ToList());
    }

    private static bool IsInside(string root, string full) =>
        full.StartsWith(Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>
    /// Test images whose bytes equal a training image's under another name, as notes with both lines. Only files of
    /// equal length in both sets are hashed, so a split without such pairs costs one length lookup per file.
    /// </summary>
    private static IEnumerable<string> SameBytesInBothSets(string splitFile, List<(LabeledImage Image, int Line)> train, List<(LabeledImage Image, int Line)> test)
    {
        static long Length(string path)
        {
            try { return new FileInfo(path).Length; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return -1; }
        }
        static string? Hash(string path)
        {
            try { return ContentHash.Of(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        }
        // Missing files have length -1 and match nothing: the featurizer reports them.
        var trainByLength = train.ToLookup(t => Length(t.Image.ImagePath));
        var candidates = test.Select(t => (t.Image, t.Line, Length: Length(t.Image.ImagePath)))
            .Where(t => t.Length >= 0 && trainByLength.Contains(t.Length)).ToList();
        if (candidates.Count == 0) yield break;
        var trainHashes = new Dictionary<string, (LabeledImage Image, int Line)>(StringComparer.Ordinal);
        foreach (var t in candidates.Select(c => c.Length).Distinct().SelectMany(length => trainByLength[length]))
            if (Hash(t.Image.ImagePath) is { } h) trainHashes.TryAdd(h, t);
        int reported = 0, more = 0;
        foreach (var t in candidates)
        {
            if (Hash(t.Image.ImagePath) is not { } h || !trainHashes.TryGetValue(h, out var twin)) continue;
            if (reported++ < 10)
                yield return $"{splitFile}:{t.Line}: test image {t.Image.ImagePath} has the same bytes as training image {twin.Image.ImagePath} (line {twin.Line}): "
                    + "the test result counts an image the model trained on.";
            else more++;
        }
        if (more > 0)
            yield return $"{splitFile}: {more} more test images have the same bytes as a training image.";
    }

    /// <summary>Writes this split in the split-file format, atomically; paths relative to <paramref name="dataDirectory"/>.</summary>
    public void WriteFile(string splitFile, string dataDirectory)
    {
        var root = Path.GetFullPath(dataDirectory);
        var lines = new List<string> { "set\tlabel\tpath" };
        lines.AddRange(Train.Select(i => $"train\t{i.Label}\t{Relative(root, i.ImagePath)}"));
        lines.AddRange(Test.Select(i => $"test\t{i.Label}\t{Relative(root, i.ImagePath)}"));
        AtomicFile.Write(splitFile, stream =>
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            foreach (var line in lines) writer.Write(line + "\n");
        });
    }

    private static string Relative(string root, string path) => Path.GetRelativePath(root, path).Replace('\\', '/');
}
