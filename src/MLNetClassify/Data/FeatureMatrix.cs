namespace MLNetClassify.Data;

/// <summary>A dense row-major matrix of features: one row per image, <see cref="Dimensions"/> floats each.</summary>
public sealed class FeatureMatrix
{
    /// <summary>Wraps <paramref name="values"/> (not copied) as <paramref name="rows"/> × <paramref name="dimensions"/>.</summary>
    /// <exception cref="ArgumentException">The value count is not rows × dimensions.</exception>
    public FeatureMatrix(float[] values, int rows, int dimensions)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimensions);
        if ((long)rows * dimensions != values.Length)
            throw new ArgumentException($"Expected {rows}×{dimensions} = {(long)rows * dimensions} values, got {values.Length}.", nameof(values));
        Values = values;
        Rows = rows;
        Dimensions = dimensions;
    }

    /// <summary>The values, row after row.</summary>
    public float[] Values { get; }

    /// <summary>Number of rows (images).</summary>
    public int Rows { get; }

    /// <summary>Length of each row.</summary>
    public int Dimensions { get; }

    /// <summary>Row <paramref name="index"/> as a span over the shared storage.</summary>
    public ReadOnlySpan<float> Row(int index) => Values.AsSpan(index * Dimensions, Dimensions);

    /// <summary>A new matrix holding the rows named by <paramref name="indices"/>, in that order.</summary>
    public FeatureMatrix Select(IReadOnlyList<int> indices)
    {
        var values = new float[indices.Count * Dimensions];
        for (int i = 0; i < indices.Count; i++)
            Row(indices[i]).CopyTo(values.AsSpan(i * Dimensions, Dimensions));
        return new FeatureMatrix(values, indices.Count, Dimensions);
    }
}
