using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Data;

namespace MLNetClassify.Models;

/// <summary>Facts read back from a fitted or loaded classifier.</summary>
internal static class ModelInfo
{
    /// <summary>
    /// The class names in Score order, read from the Score column's slot names (the label key's values).
    /// </summary>
    /// <exception cref="ArgumentException">The model has no Score column with slot names.</exception>
    public static IReadOnlyList<string> Classes(MLContext mlContext, ITransformer model)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(model);
        var input = ImageDataset.ToDataView(mlContext, []).Schema;
        var score = model.GetOutputSchema(input).GetColumnOrNull("Score")
            ?? throw new ArgumentException("The model has no Score column: is it an MLNetClassify (or ML.NET multiclass) model?");
        if (score.Annotations.Schema.GetColumnOrNull("SlotNames") is null)
            throw new ArgumentException("The model's Score column carries no class names.");
        VBuffer<ReadOnlyMemory<char>> names = default;
        score.GetSlotNames(ref names);
        return names.DenseValues().Select(n => n.ToString()).ToArray();
    }

    /// <summary>The steps of a (nested) chain in order, as ML.NET loads a saved model: TransformerChains of transformers.</summary>
    internal static IEnumerable<ITransformer> Leaves(ITransformer model) =>
        model is IEnumerable<ITransformer> chain ? chain.SelectMany(Leaves) : [model];
}
