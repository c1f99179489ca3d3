namespace MLNetClassify.Data;

/// <summary>
/// The one stratified splitter: train/test splits (<see cref="DataSplit.Stratified"/>) and the trainers' validation
/// hold-out both draw their rows with it, from one splitmix64 stream.
/// </summary>
internal static class StratifiedSplitter
{
    /// <summary>
    /// Splits rows by class: classes in ascending order, each class's rows in ascending index order, one splitmix64
    /// stream consumed class by class; each class Fisher–Yates shuffled (for i = n−1..1: j = next() mod (i+1); swap);
    /// the first clamp(⌊f·n + 0.5⌋, 1, n−1) rows are taken (none from a class of one row).
    /// </summary>
    /// <param name="classOfRow">Class index of each row.</param>
    /// <param name="fraction">Share of each class to take, in (0, 1).</param>
    /// <param name="seed">Seed of the splitmix64 stream.</param>
    /// <returns>The rows taken and the others, each in ascending index order within a class, classes in ascending order.</returns>
    public static (int[] Taken, int[] Others) Split(IReadOnlyList<int> classOfRow, double fraction, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(classOfRow);
        if (fraction is <= 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The fraction must be in (0, 1).");
        var rng = new SplitMix64(seed);
        var taken = new List<int>();
        var rest = new List<int>();
        foreach (var group in Enumerable.Range(0, classOfRow.Count).GroupBy(i => classOfRow[i]).OrderBy(g => g.Key))
        {
            var rows = group.ToArray();
            int n = rows.Length;
            for (int i = n - 1; i >= 1; i--)
            {
                int j = (int)(rng.Next() % (ulong)(i + 1));
                (rows[i], rows[j]) = (rows[j], rows[i]);
            }
            int count = n < 2 ? 0 : Math.Clamp((int)Math.Floor(fraction * n + 0.5), 1, n - 1);
            taken.AddRange(rows.Take(count));
            rest.AddRange(rows.Skip(count));
        }
        return (taken.ToArray(), rest.ToArray());
    }

    /// <summary>splitmix64 (Steele, Lea &amp; Flood), the generator the shared split files were made with.</summary>
    internal struct SplitMix64(ulong seed)
    {
        private ulong _state = seed;

        public ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
