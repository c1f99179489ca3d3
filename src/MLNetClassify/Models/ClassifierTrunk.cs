using MLNetClassify.Backbones;

namespace MLNetClassify.Models;

/// <summary>A featurizer graph read back from a saved model: the bytes ORT runs, and what they take and give.</summary>
internal sealed record ClassifierTrunk(byte[] Graph, string BackboneName, int InputSize, int Channels)
{
    /// <summary>A spec that carries the name, input side and feature count (its file is the model zip, never read).</summary>
    public BackboneSpec Spec(string modelPath) => new() { Name = BackboneName, ModelFile = Path.GetFullPath(modelPath), InputSize = InputSize, Channels = Channels };

    /// <summary>A featurizer graph the library built (in memory), described as it would be read back from a zip.</summary>
    /// <exception cref="ArgumentException">The bytes are not a featurizer graph of the library's.</exception>
    public static ClassifierTrunk Of(byte[] graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        return FeaturizerGraph.TryDescribe(global::Onnx.ModelProto.Parser.ParseFrom(graph), out var name, out int size, out int channels)
            ? new ClassifierTrunk(graph, name, size, channels)
            : throw new ArgumentException("Not a featurizer graph of MLNetClassify's.", nameof(graph));
    }
}
