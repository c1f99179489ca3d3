namespace MLNetClassify.Data;

/// <summary>
/// Where a featurization run spent its time, summed over its batches (seconds of wall time; in the CPU's
/// worker mode, summed over the workers, so they can exceed the run's wall time).
/// </summary>
/// <param name="Batches">Batches run.</param>
/// <param name="DecodeSeconds">Reading, decoding, resizing and writing pixel planes into the batch buffers.</param>
/// <param name="InferenceSeconds">ONNX Runtime calls: on CUDA, the copy to the device, the network and the copy back.</param>
/// <param name="InferenceWaitSeconds">Time the inference loop waited for a decoded batch (the decode-then-infer pipeline only).</param>
/// <param name="DecodeBlockedSeconds">Time the decoders waited for the inference loop to take a batch (that pipeline only).</param>
internal sealed record FeaturizationStages(int Batches, double DecodeSeconds, double InferenceSeconds, double InferenceWaitSeconds, double DecodeBlockedSeconds)
{
    /// <summary>Milliseconds per batch spent decoding.</summary>
    public double DecodeMsPerBatch => Batches == 0 ? 0 : 1000 * DecodeSeconds / Batches;

    /// <summary>Milliseconds per batch spent in ONNX Runtime.</summary>
    public double InferenceMsPerBatch => Batches == 0 ? 0 : 1000 * InferenceSeconds / Batches;
}
