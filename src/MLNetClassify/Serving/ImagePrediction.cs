namespace MLNetClassify.Serving;

/// <summary>What a model says of one image: the most probable label, its probability, and every class's.</summary>
/// <param name="Label">The most probable class.</param>
/// <param name="Score">Its probability.</param>
/// <param name="Scores">Every class's probability, in the order of <paramref name="Classes"/> (the model's key order).</param>
/// <param name="Classes">The model's class names.</param>
public sealed record ImagePrediction(string Label, float Score, IReadOnlyList<float> Scores, IReadOnlyList<string> Classes)
{
    /// <summary>Every class with its probability, most probable first (Model Builder's PredictAllLabels).</summary>
    public IReadOnlyList<KeyValuePair<string, float>> AllLabels() =>
        Classes.Select((c, i) => new KeyValuePair<string, float>(c, Scores[i])).OrderByDescending(p => p.Value).ToList();
}
