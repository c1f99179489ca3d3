using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Export;

/// <summary>
/// Lifts a featurizer graph to the opset the export needs (<see cref="OnnxExportResize.Opset"/>), rewriting the
/// attributes that later opsets turned into inputs and refusing, by name, what cannot be carried over unchanged.
/// </summary>
internal static class OnnxExportOpset
{
    /// <summary>Ops whose <c>axes</c> attribute became an input (ReduceSum, Squeeze, Unsqueeze at 13; the other reductions at 18).</summary>
    private static readonly HashSet<string> AxesToInput =
    [
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "Squeeze", "Unsqueeze",
    ];

    /// <summary>Raises the standard opset of <paramref name="model"/> to at least <paramref name="target"/>; returns it.</summary>
    /// <exception cref="InvalidDataException">A node the target opset cannot express unchanged; the message names it.</exception>
    public static long Lift(ModelProto model, long target, string modelPath)
    {
        var standard = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
        if (standard is null) model.OpsetImport.Add(standard = new OperatorSetIdProto { Domain = "", Version = 1 });
        if (standard.Version >= target) return standard.Version;
        var g = model.Graph;
        int lifted = 0;
        foreach (var node in g.Node.ToList())
        {
            // Opset 9 removed BatchNormalization's 'spatial' (CNTK exports such as the embedded ResNet18 carry it);
            // spatial = 1, the only value these graphs use, is what later opsets always do.
            if (node.OpType == "BatchNormalization" && Attribute(node, "spatial") is { } spatial)
            {
                if (spatial.I != 1)
                    throw Refused(modelPath, node, $"has spatial = {spatial.I}, which ONNX opset 9 and later cannot express");
                node.Attribute.Remove(spatial);
            }
            else if ((AxesToInput.Contains(node.OpType) || node.OpType == "Split") && Attribute(node, node.OpType == "Split" ? "split" : "axes") is { } list)
            {
                // The attribute's values as a constant input in the same place.
                string name = $"mlnc_export_opset_{list.Name}_{lifted++}";
                g.Initializer.Add(OnnxBuild.Int64s(name, [list.Ints.Count], [.. list.Ints]));
                while (node.Input.Count < 2) node.Input.Add("");
                node.Input[1] = name;
                node.Attribute.Remove(list);
            }
            else if (node.OpType is "Softmax" or "LogSoftmax" or "Hardmax" && (Attribute(node, "axis")?.I ?? 1) != -1 && standard.Version < 13)
                throw Refused(modelPath, node, "takes an axis whose meaning opset 13 changed (only axis = -1 carries over)");
            else if (node.OpType == "Resize" && Attribute(node, "coordinate_transformation_mode")?.S.ToStringUtf8() == "tf_half_pixel_for_nn")
                throw Refused(modelPath, node, "uses tf_half_pixel_for_nn, which opset 13 removed");
            else if (node.OpType == "Dropout" && Attribute(node, "ratio") is { } ratio)
                node.Attribute.Remove(ratio); // an input from opset 12; inference ignores it either way
            else if (node.OpType is "Upsample" or "Scatter")
                throw Refused(modelPath, node, "is an op that later opsets replaced (Resize, ScatterElements)");
        }
        standard.Version = target;
        model.IrVersion = Math.Max(model.IrVersion, 8); // opset 18 needs IR version 8
        return target;
    }

    private static AttributeProto? Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    private static InvalidDataException Refused(string modelPath, NodeProto node, string why) =>
        new($"{modelPath}: {node.OpType} node {node.Name} {why}; the export's resize needs ONNX opset {OnnxExportResize.Opset}: not exportable.");
}
