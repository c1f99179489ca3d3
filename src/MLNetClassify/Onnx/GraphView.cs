using Onnx;

namespace MLNetClassify.Onnx;

/// <summary>Nodes by the tensor they produce, and which tensors are constant.</summary>
internal sealed class GraphView
{
    public GraphView(GraphProto g)
    {
        Graph = g;
        Producers = g.Node.SelectMany(n => n.Output.Select(o => (o, n))).GroupBy(p => p.o).ToDictionary(p => p.Key, p => p.First().n);
        Constants = new HashSet<string>(g.Initializer.Select(t => t.Name).Concat(g.Node.Where(n => n.OpType == "Constant").SelectMany(n => n.Output)));
    }

    public GraphProto Graph { get; }
    public Dictionary<string, NodeProto> Producers { get; }
    public HashSet<string> Constants { get; }

    /// <summary>Every node the tensor depends on (the one graph walk: cutting a backbone and reading its structure both use it).</summary>
    public IEnumerable<NodeProto> Upstream(string tensor)
    {
        var seen = new HashSet<NodeProto>();
        var stack = new Stack<string>([tensor]);
        while (stack.Count > 0)
        {
            if (!Producers.TryGetValue(stack.Pop(), out var node) || !seen.Add(node)) continue;
            foreach (var i in node.Input) stack.Push(i);
        }
        return seen;
    }

    public List<string> Dynamic(NodeProto node) => node.Input.Where(i => i.Length > 0 && !Constants.Contains(i)).ToList();
}
