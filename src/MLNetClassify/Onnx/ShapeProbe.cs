using Microsoft.ML.OnnxRuntime;

namespace MLNetClassify.Onnx;

/// <summary>
/// The shapes a graph's outputs take for one input shape, learnt by running it once on zeros: ONNX files often leave
/// them symbolic, and ONNX Runtime infers them only while running.
/// </summary>
internal static class ShapeProbe
{
    /// <summary>Runs <paramref name="graph"/> once on zeros shaped <paramref name="inputShape"/>; returns each named output's shape.</summary>
    /// <param name="graph">The ONNX model's bytes.</param>
    /// <param name="input">The float input to feed.</param>
    /// <param name="inputShape">Its shape, batch first.</param>
    /// <param name="outputs">The outputs (or intermediate values the graph declares as outputs) to report.</param>
    /// <param name="level">ONNX Runtime's optimization level: none by default (shapes only, the fastest session to build).</param>
    public static Dictionary<string, long[]> Run(byte[] graph, string input, long[] inputShape, IReadOnlyList<string> outputs,
        GraphOptimizationLevel level = GraphOptimizationLevel.ORT_DISABLE_ALL)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = level, IntraOpNumThreads = 1 };
        using var session = new InferenceSession(graph, options);
        var zeros = new float[inputShape.Aggregate(1L, (a, b) => a * b)];
        using var value = OrtValue.CreateTensorValueFromMemory(zeros, inputShape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [input], [value], outputs);
        return outputs.Select((name, i) => (name, results[i].GetTensorTypeAndShape().Shape)).ToDictionary(p => p.name, p => p.Shape);
    }
}
