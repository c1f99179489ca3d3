using MLNetClassify.Data;

namespace MLNetClassify.Learning;

/// <summary>The validation rows a trainer holds out to choose its best epoch.</summary>
internal static class Holdout
{
    /// <summary>
    /// Stratified hold-out drawn with <see cref="StratifiedSplitter"/> (the splitter train/test splits use): in each
    /// class of two rows or more, clamp(round(fraction·n), 1, n−1) rows go to validation. Both lists are sorted.
    /// </summary>
    public static (int[] Train, int[] Validation) Split(IReadOnlyList<int> labels, float fraction, int seed)
    {
        var (validation, train) = StratifiedSplitter.Split(labels, fraction, unchecked((ulong)seed));
        Array.Sort(train);
        Array.Sort(validation);
        return (train, validation);
    }
}
