using Google.Protobuf;
using Onnx;

namespace MLNetClassify.Onnx;

/// <summary>Stores large float32 initializers as float16 plus a Cast back to float32 (ONNX Runtime folds the Cast at load).</summary>
/// <remarks>
/// The float16 values ride in Constant nodes, not initializers: ML.NET's OnnxTransformer types every initializer
/// and has no float16 type ("Unsupported ONNX scalar type: Float16"), while it ignores node attributes.
/// </remarks>
internal static class HalfPrecision
{
    /// <summary>Tensors smaller than this stay float32: they weigh little, and batch-norm scales and biases are among them.</summary>
    public const int MinimumElements = 1024;

    private const float HalfMax = 65504f;

    /// <summary>
    /// Adds <paramref name="tensor"/> to <paramref name="graph"/> as float16 with a Cast node that restores its name and
    /// type; false (nothing added) when it is not float32, is small, or holds a value float16 cannot represent.
    /// </summary>
    public static bool TryStore(TensorProto tensor, GraphProto graph)
    {
        if (tensor.DataType != (int)TensorProto.Types.DataType.Float || tensor.Dims.Aggregate(1L, (a, d) => a * d) < MinimumElements)
            return false;
        var values = OnnxBuild.ReadFloats(tensor);
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]) || Math.Abs(values[i]) > HalfMax)
                return false;
            BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), BitConverter.HalfToUInt16Bits((Half)values[i]));
        }
        var half = new TensorProto { Name = tensor.Name + "_f16", DataType = (int)TensorProto.Types.DataType.Float16, RawData = ByteString.CopyFrom(bytes) };
        half.Dims.AddRange(tensor.Dims);
        var constant = OnnxBuild.Node("Constant", [], [half.Name]);
        constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = half });
        // Topological order: both must precede every node that reads the tensor, so they go first.
        graph.Node.Insert(0, OnnxBuild.Node("Cast", [half.Name], [tensor.Name], OnnxBuild.Attr("to", (long)TensorProto.Types.DataType.Float)));
        graph.Node.Insert(0, constant);
        return true;
    }
}
