using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Backbones;
using MLNetClassify.Images;

namespace MLNetClassify.Featurization;

/// <summary>
/// Row-by-row featurization as a pipeline step: (load) → resize → pixels → the backbone's featurizer graph,
/// all stock ML.NET transforms, so the fitted chain saves into the model zip (ONNX graph included) and reloads
/// with stock <c>mlContext.Model.Load</c>. For bulk work use <see cref="ImageFeaturizer"/>, which batches.
/// </summary>
internal sealed class ImageFeaturizingEstimator : IEstimator<TransformerChain<ITransformer>>
{
    private readonly MLContext _mlContext;
    private readonly string _outputColumnName;
    private readonly string _inputColumnName;
    private readonly string? _imageFolder;
    private readonly ExecutionDevice _device;
    private readonly bool _requireDevice;
    private readonly bool _featureMap;
    private readonly byte[]? _graph;

    internal ImageFeaturizingEstimator(MLContext mlContext, string outputColumnName, string inputColumnName, BackboneSpec backbone, string? imageFolder,
        ExecutionDevice device = default, bool requireDevice = false, bool featureMap = false, byte[]? graph = null)
    {
        _graph = graph;
        _mlContext = mlContext;
        _outputColumnName = outputColumnName;
        _inputColumnName = inputColumnName;
        Backbone = backbone;
        _imageFolder = imageFolder;
        _device = device;
        _requireDevice = requireDevice;
        _featureMap = featureMap;
    }

    /// <summary>The backbone this step runs.</summary>
    public BackboneSpec Backbone { get; }

    /// <inheritdoc/>
    public TransformerChain<ITransformer> Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var column = input.Schema.GetColumnOrNull(_inputColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(input), $"Input has no column '{_inputColumnName}'.");
        var fitted = Chain(column.Type is TextDataViewType).Fit(input);
        // The chain's static type depends on its last step; flatten it into a chain of ITransformer.
        return new TransformerChain<ITransformer>(((IEnumerable<ITransformer>)fitted).ToArray());
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var column = inputSchema.FirstOrDefault(c => c.Name == _inputColumnName);
        if (column.Name is null)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Input has no column '{_inputColumnName}'.");
        return Chain(column.ItemType is TextDataViewType).GetOutputSchema(inputSchema);
    }

    internal IEstimator<ITransformer> Chain(bool inputIsPath)
    {
        // ML.NET's GPU switch for ApplyOnnxModel; used only once our own probe found CUDA usable, since its
        // fallback catches ONNX Runtime errors but not the CPU package's missing CUDA entry point.
        int? gpu = ExecutionDevices.GpuDeviceIdFor(_device, _requireDevice, out _);
        var (output, graph) = _featureMap
            ? (FeaturizerGraph.FeatureMapName, FeaturizerGraph.BuildFeatureMap(Backbone))
            : (FeaturizerGraph.OutputName, _graph ?? FeaturizerGraph.Build(Backbone));
        var chain = ImagePreparation.Estimators(_mlContext, _inputColumnName, inputIsPath, Backbone.ResizeSize, _imageFolder)
            .Append(_mlContext.Transforms.ApplyOnnxModel(
                [output], [ImagePreparation.PixelsColumn], new MemoryStream(graph), gpuDeviceId: gpu, fallbackToCpu: !_requireDevice));
        return _outputColumnName == output
            ? chain
            : chain.Append(_mlContext.Transforms.CopyColumns(_outputColumnName, output));
    }
}
