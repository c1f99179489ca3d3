using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetClassify.Images;

/// <summary>Reads the (label key, image) pairs an image estimator trains on, with the checks and messages they share.</summary>
internal static class LabeledImageInput
{
    /// <summary>
    /// Image sources and 0-based class indices of the rows that have a label; rows with a missing key are counted.
    /// </summary>
    /// <exception cref="ArgumentException">A column is missing or of the wrong type, or no row has a label.</exception>
    public static (List<ImageSource> Sources, List<int> Labels, IReadOnlyList<string> Classes, int Unlabeled) Read(
        IDataView input, string labelColumnName, string imageColumnName, string? imageFolder)
    {
        var label = input.Schema.GetColumnOrNull(labelColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(input), $"Input has no label column '{labelColumnName}'.");
        if (label.Type is not KeyDataViewType key || key.Count < 2)
            throw new ArgumentOutOfRangeException(nameof(input), $"Label column '{labelColumnName}' is {label.Type}; it must be a key with at least two values (use mlContext.Transforms.Conversion.MapValueToKey).");
        var image = input.Schema.GetColumnOrNull(imageColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(input), $"Input has no image column '{imageColumnName}'.");
        bool isPath = image.Type is TextDataViewType;
        if (!isPath && image.Type.RawType != typeof(MLImage))
            throw new ArgumentOutOfRangeException(nameof(input), $"Image column '{imageColumnName}' is {image.Type}: expected a path (text) or an MLImage.");

        var classes = LabelNames(label) ?? Enumerable.Range(1, (int)key.Count).Select(i => i.ToString()).ToArray();
        var sources = new List<ImageSource>();
        var labels = new List<int>();
        int unlabeled = 0, row = 0;
        using var cursor = input.GetRowCursor([label, image]);
        var getLabel = cursor.GetGetter<uint>(label);
        var getPath = isPath ? cursor.GetGetter<ReadOnlyMemory<char>>(image) : null;
        var getImage = isPath ? null : cursor.GetGetter<MLImage>(image);
        uint k = 0;
        ReadOnlyMemory<char> path = default;
        MLImage picture = null!;
        while (cursor.MoveNext())
        {
            row++;
            getLabel(ref k);
            if (k == 0) { unlabeled++; continue; }
            if (getPath is not null)
            {
                getPath(ref path);
                var file = path.ToString();
                if (imageFolder is not null) file = Path.Combine(imageFolder, file);
                sources.Add(ImageSource.FromFile(file));
            }
            else
            {
                getImage!(ref picture);
                sources.Add(ImageSource.FromImage(picture, $"row {row}"));
            }
            labels.Add((int)k - 1);
        }
        if (sources.Count == 0)
            throw new ArgumentException($"No row of the input has a label in '{labelColumnName}'.", nameof(input));
        return (sources, labels, classes, unlabeled);
    }

    /// <summary>The label key's values as strings, or null when the key has none.</summary>
    public static string[]? LabelNames(DataViewSchema.Column label)
    {
        if (label.Annotations.Schema.GetColumnOrNull("KeyValues") is null)
            return null;
        VBuffer<ReadOnlyMemory<char>> values = default;
        label.GetKeyValues(ref values);
        return values.DenseValues().Select(v => v.ToString()).ToArray();
    }
}
