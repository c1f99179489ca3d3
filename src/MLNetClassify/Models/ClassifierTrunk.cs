using MLNetClassify.Backbones;

namespace MLNetClassify.Models;

/// <summary>A featurizer graph read back from a saved model: the bytes ORT runs, and what they take and give.</summary>
internal sealed record ClassifierTrunk(byte[] Graph, string BackboneName, int InputSize, int Channels)
{
    /// <summary>A spec that carries the name, input side and feature count (its file is the model zip, never read).</summary>
    public BackboneSpec Spec(string modelPath) => new() { Name = BackboneName, ModelFile = Path.GetFullPath(modelPath), InputSize = InputSize, Channels = Channels };
}
