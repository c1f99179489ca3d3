using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Export;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tests.Persistence;

/// <summary>
/// The export's opset lift on its own: a graph of opset 8 whose attributes later opsets turned into inputs (BatchNormalization's
/// spatial, ReduceMean / Squeeze / Unsqueeze axes, Split's split, Dropout's ratio), lifted to 18, gives ONNX Runtime's
/// outputs bit for bit; what cannot carry over is refused by name.
/// </summary>
public class OnnxExportOpsetTests
{
    private const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;

    private static ModelProto Old(params NodeProto[] extra)
    {
        var g = new GraphProto { Name = "opset8" };
        g.Input.Add(OnnxBuild.Tensor("x", F, 2, 4, 3, 3));
        var rng = new Random(3);
        float[] Values(int n, float offset = 0) => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() + offset).ToArray();
        g.Initializer.Add(OnnxBuild.Floats("scale", [4], Values(4)));
        g.Initializer.Add(OnnxBuild.Floats("bias", [4], Values(4)));
        g.Initializer.Add(OnnxBuild.Floats("mean", [4], Values(4)));
        g.Initializer.Add(OnnxBuild.Floats("var", [4], Values(4, 0.5f)));
        g.Node.Add(OnnxBuild.Node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["bn"], OnnxBuild.Attr("spatial", 1), OnnxBuild.Float("epsilon", 1e-5f)));
        g.Node.Add(OnnxBuild.Node("Dropout", ["bn"], ["dropped"], OnnxBuild.Float("ratio", 0.5f)));
        g.Node.Add(OnnxBuild.Node("ReduceMean", ["dropped"], ["pooled"], OnnxBuild.Ints("axes", 2, 3), OnnxBuild.Attr("keepdims", 0)));
        g.Node.Add(OnnxBuild.Node("Unsqueeze", ["pooled"], ["wide"], OnnxBuild.Ints("axes", 0)));
        g.Node.Add(OnnxBuild.Node("Squeeze", ["wide"], ["narrow"], OnnxBuild.Ints("axes", 0)));
        g.Node.Add(OnnxBuild.Node("Split", ["narrow"], ["a", "b"], OnnxBuild.Attr("axis", 1), OnnxBuild.Ints("split", 1, 3)));
        g.Node.AddRange(extra);
        g.Output.Add(OnnxBuild.Tensor("a", F, 2, 1));
        g.Output.Add(OnnxBuild.Tensor("b", F, 2, 3));
        var model = new ModelProto { IrVersion = 3, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 8 });
        return model;
    }

    private static float[][] Run(ModelProto model, float[] x)
    {
        using var session = new InferenceSession(model.ToByteArray());
        using var input = OrtValue.CreateTensorValueFromMemory(x, [2, 4, 3, 3]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["x"], [input], ["a", "b"]);
        return outputs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToArray();
    }

    [Fact]
    public void AnOpset8Graph_LiftedTo18_GivesTheSameOutputsBitForBit()
    {
        var rng = new Random(7);
        var x = Enumerable.Range(0, 2 * 4 * 3 * 3).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var before = Run(Old(), x);
        var lifted = Old();
        Assert.Equal(18, OnnxExportOpset.Lift(lifted, 18, "m.zip"));
        Assert.DoesNotContain(lifted.Graph.Node, n => n.Attribute.Any(a => a.Name is "spatial" or "axes" or "split" or "ratio"));
        var after = Run(lifted, x);
        Assert.Equal(before[0], after[0]);
        Assert.Equal(before[1], after[1]);
    }

    [Theory]
    [InlineData("Upsample", "replaced")]
    [InlineData("BatchNormalization", "spatial = 0")]
    public void WhatCannotCarryOver_IsRefusedNamingTheNode(string op, string why)
    {
        var node = op == "Upsample"
            ? OnnxBuild.Node("Upsample", ["x"], ["up"], OnnxBuild.Float("height_scale", 2))
            : OnnxBuild.Node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["bn0"], OnnxBuild.Attr("spatial", 0));
        node.Name = "the_node";
        var refused = Assert.Throws<InvalidDataException>(() => OnnxExportOpset.Lift(Old(node), 18, "m.zip"));
        Assert.Contains("m.zip", refused.Message);
        Assert.Contains("the_node", refused.Message);
        Assert.Contains(why, refused.Message);
    }
}
