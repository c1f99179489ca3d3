namespace MLNetClassify.Explanations;

/// <summary>
/// Where in one image a saved classifier found the evidence for a class: the class's head weights applied to the
/// backbone's unpooled last feature map. Exact for heads on globally averaged features: the map's mean is the class's
/// logit minus its bias.
/// </summary>
/// <param name="Source">The image file.</param>
/// <param name="Label">The class the map is for (the predicted one unless another was asked for).</param>
/// <param name="Predicted">The class the model predicts.</param>
/// <param name="Probability">The model's probability of <paramref name="Label"/>.</param>
/// <param name="Height">Rows of the map (7 for ResNet18 at 224 pixels).</param>
/// <param name="Width">Columns of the map.</param>
/// <param name="Values">The map, row by row (Height × Width); empty when the image could not be read.</param>
/// <param name="Logit">The class's score before softmax.</param>
/// <param name="Bias">The class's bias in the head.</param>
/// <param name="Problem">Why the image could not be read; null when it was.</param>
public sealed record ClassActivationMap(
    string Source, string Label, string Predicted, float Probability, int Height, int Width, IReadOnlyList<float> Values, float Logit, float Bias,
    string? Problem = null);
