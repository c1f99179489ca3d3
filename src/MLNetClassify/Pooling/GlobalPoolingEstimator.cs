using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Pooling;

/// <summary>How a C×H×W feature map becomes a fixed-length vector.</summary>
public enum GlobalPoolingKind
{
    /// <summary>The mean of each channel: C values.</summary>
    Average,

    /// <summary>The maximum of each channel: C values.</summary>
    Max,

    /// <summary>Means, then maxima: 2·C values.</summary>
    AverageMax,
}

/// <summary>
/// Global pooling as a pipeline step: a feature-map column of C×H×W floats (any H and W, channel-major as ONNX
/// lays out NCHW) becomes C (or 2·C) floats, so a fully connected layer after it no longer depends on the image
/// size. Fitting reads C, H and W from the column's dimensions and emits a small ONNX graph under stock
/// ApplyOnnxModel, which saves inside the model zip and reloads with stock ML.NET.
/// </summary>
internal sealed class GlobalPoolingEstimator : IEstimator<OnnxTransformer>
{
    private readonly MLContext _mlContext;
    private readonly string _outputColumnName;
    private readonly string _inputColumnName;
    private readonly GlobalPoolingKind _kind;

    internal GlobalPoolingEstimator(MLContext mlContext, string outputColumnName, string inputColumnName, GlobalPoolingKind kind)
    {
        if (outputColumnName == inputColumnName)
            throw new ArgumentException("The pooled column needs a name of its own (ONNX inputs and outputs cannot share one).", nameof(outputColumnName));
        _mlContext = mlContext;
        _outputColumnName = outputColumnName;
        _inputColumnName = inputColumnName;
        _kind = kind;
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentOutOfRangeException">The column is missing, not Single, or its C×H×W dimensions are unknown (ML.NET's exception for a schema mismatch).</exception>
    public OnnxTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var column = input.Schema.GetColumnOrNull(_inputColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(input), $"Input has no column '{_inputColumnName}'.");
        if (column.Type is not VectorDataViewType { ItemType: NumberDataViewType item, IsKnownSize: true } vector || item.RawType != typeof(float))
            throw new ArgumentOutOfRangeException(nameof(input), $"Column '{_inputColumnName}' is {column.Type}; global pooling needs a known-size vector of Single.");
        var dims = vector.Dimensions.Where(d => d > 0).ToArray();
        while (dims.Length > 3 && dims[0] == 1) dims = dims[1..];
        if (dims.Length != 3)
            throw new ArgumentOutOfRangeException(nameof(input), $"Column '{_inputColumnName}' has dimensions [{string.Join(",", vector.Dimensions)}]; expected C×H×W (optionally after a batch of 1).");
        return Estimator(dims[0], dims[1], dims[2]).Fit(input);
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        // The shape says only "known-size vector of Single", which any C×H×W gives; 1×1×1 stands in.
        Estimator(1, 1, 1).GetOutputSchema(inputSchema);

    private OnnxScoringEstimator Estimator(int c, int h, int w) =>
        _mlContext.Transforms.ApplyOnnxModel([_outputColumnName], [_inputColumnName], new MemoryStream(Graph(c, h, w)));

    /// <summary>The pooling graph: input [1,C,H,W] named after the input column, output [1,C or 2C].</summary>
    internal byte[] Graph(int c, int h, int w)
    {
        var graph = new GraphProto { Name = $"mlnc_global_{_kind.ToString().ToLowerInvariant()}_pool" };
        graph.Input.Add(OnnxBuild.Tensor(_inputColumnName, TensorProto.Types.DataType.Float, "N", c, h, w));
        var pooled = new List<string>();
        if (_kind is GlobalPoolingKind.Average or GlobalPoolingKind.AverageMax)
        {
            graph.Node.Add(OnnxBuild.Node("GlobalAveragePool", [_inputColumnName], ["mlnc_avg"]));
            pooled.Add("mlnc_avg");
        }
        if (_kind is GlobalPoolingKind.Max or GlobalPoolingKind.AverageMax)
        {
            graph.Node.Add(OnnxBuild.Node("GlobalMaxPool", [_inputColumnName], ["mlnc_max"]));
            pooled.Add("mlnc_max");
        }
        string flat = pooled[0];
        if (pooled.Count > 1)
        {
            graph.Node.Add(OnnxBuild.Node("Concat", [.. pooled], ["mlnc_cat"], OnnxBuild.Attr("axis", 1)));
            flat = "mlnc_cat";
        }
        graph.Node.Add(OnnxBuild.Node("Flatten", [flat], [_outputColumnName], OnnxBuild.Attr("axis", 1)));
        graph.Output.Add(OnnxBuild.Tensor(_outputColumnName, TensorProto.Types.DataType.Float, "N", pooled.Count * c));
        var model = new ModelProto { IrVersion = 7, ProducerName = "MLNetClassify", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model.ToByteArray();
    }
}
