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
    /// to <paramref name="dataDirectory"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">Bad header, set name or line; the message names file and line.</exception>
    public static DataSplit ReadFile(string splitFile, string dataDirectory)
    {
        if (!File.Exists(splitFile))
            throw new FileNotFoundException($"Split file not found: {splitFile}", splitFile);
        var root = Path.GetFullPath(dataDirectory);
        var lines = File.ReadAllLines(splitFile);
        if (lines.Length == 0 || lines[0].Trim() != "set\tlabel\tpath")
            throw new InvalidDataException($"{splitFile}:1: expected the header 'set<TAB>label<TAB>path'.");
        var train = new List<LabeledImage>();
        var test = new List<LabeledImage>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            var f = lines[i].Split('\t');
            if (f.Length != 3 || f[1].Length == 0 || f[2].Length == 0)
                throw new InvalidDataException($"{splitFile}:{i + 1}: expected three tab-separated fields: set, label, path.");
            var image = new LabeledImage(Path.GetFullPath(Path.Combine(root, f[2])), f[1]);
            (f[0] switch
            {
                "train" => train,
                "test" => test,
                _ => throw new InvalidDataException($"{splitFile}:{i + 1}: set must be 'train' or 'test', found '{f[0]}'."),
            }).Add(image);
        }
        return new DataSplit(train, test);
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
