using Google.Protobuf;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Perceptrons;

/// <summary>
/// The hidden layers of a perceptron as an ONNX graph (Flatten, then Gemm + Relu per layer), so that they save
/// inside the model zip under stock ApplyOnnxModel like the backbone does; the softmax layer after them is ML.NET's own.
/// </summary>
internal static class PerceptronGraph
{
    /// <summary>Column (and graph output) holding the last hidden layer's activations.</summary>
    public const string HiddenColumn = "Hidden";

    /// <summary>Input [N,3,S,S] named <paramref name="inputName"/>, output [N, last hidden size] named <see cref="HiddenColumn"/>.</summary>
    /// <exception cref="ArgumentException">The model has no hidden layer, or its input is not 3·S·S.</exception>
    public static byte[] Build(PerceptronModel model, string inputName, int imageSize)
    {
        var hidden = model.Hidden;
        if (hidden.Count == 0)
            throw new ArgumentException("A single-layer perceptron has no hidden layers to export.", nameof(model));
        if (model.Inputs != 3 * imageSize * imageSize)
            throw new ArgumentException($"The model takes {model.Inputs} inputs, not 3·{imageSize}·{imageSize}.", nameof(model));

        var graph = new GraphProto { Name = "mlnc_perceptron_hidden" };
        graph.Input.Add(OnnxBuild.Tensor(inputName, TensorProto.Types.DataType.Float, "N", 3, imageSize, imageSize));
        graph.Node.Add(OnnxBuild.Node("Flatten", [inputName], ["mlnc_flat"], OnnxBuild.Attr("axis", 1)));
        string current = "mlnc_flat";
        for (int l = 0; l < hidden.Count; l++)
        {
            var layer = hidden[l];
            string w = $"mlnc_w{l}", b = $"mlnc_b{l}", z = $"mlnc_z{l}";
            string a = l == hidden.Count - 1 ? HiddenColumn : $"mlnc_a{l}";
            graph.Initializer.Add(OnnxBuild.Floats(w, [layer.Outputs, layer.Inputs], layer.Weights));
            graph.Initializer.Add(OnnxBuild.Floats(b, [layer.Outputs], layer.Bias));
            // Gemm with transB = 1: Z = A·Wᵀ + b for row-major W (outputs × inputs).
            graph.Node.Add(OnnxBuild.Node("Gemm", [current, w, b], [z], OnnxBuild.Attr("transB", 1)));
            graph.Node.Add(OnnxBuild.Node("Relu", [z], [a]));
            current = a;
        }
        graph.Output.Add(OnnxBuild.Tensor(HiddenColumn, TensorProto.Types.DataType.Float, "N", hidden[^1].Outputs));
        var onnx = new ModelProto { IrVersion = 7, ProducerName = "MLNetClassify", Graph = graph };
        onnx.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return onnx.ToByteArray();
    }
}
