using System.Globalization;
using System.Text;

namespace MLNetClassify.Training;

/// <summary>
/// Accuracy, macro accuracy, log-loss and a confusion table from class probabilities, computed as ML.NET's multiclass
/// evaluator does (log-loss clamps a probability at 1e-15; macro accuracy is the mean of per-class recalls over the
/// classes present), for scores ML.NET did not produce itself (probabilities averaged over test-time views).
/// </summary>
internal sealed record ClassificationMetrics(double Accuracy, double MacroAccuracy, double LogLoss, string ConfusionTable)
{
    public static ClassificationMetrics Of(IReadOnlyList<double[]> probabilities, IReadOnlyList<int> labels, IReadOnlyList<string> classes)
    {
        int n = labels.Count, k = classes.Count;
        var confusion = new int[k, k];
        double loss = 0;
        int correct = 0;
        for (int i = 0; i < n; i++)
        {
            var p = probabilities[i];
            int predicted = 0;
            for (int c = 1; c < p.Length; c++)
                if (p[c] > p[predicted]) predicted = c;
            confusion[labels[i], predicted]++;
            if (predicted == labels[i]) correct++;
            loss -= Math.Log(Math.Max(p[labels[i]], 1e-15));
        }
        var recalls = Enumerable.Range(0, k).Select(c => (Total: Enumerable.Range(0, k).Sum(j => confusion[c, j]), Hit: confusion[c, c]))
            .Where(r => r.Total > 0).Select(r => (double)r.Hit / r.Total).ToList();
        var table = new StringBuilder("Confusion table (rows: truth, columns: predicted)\n");
        int width = Math.Max(6, classes.Max(c => c.Length));
        table.Append(' ', width + 1).AppendJoin(" ", classes.Select(c => c.PadLeft(width))).Append('\n');
        for (int c = 0; c < k; c++)
        {
            table.Append(classes[c].PadLeft(width)).Append(' ');
            table.AppendJoin(" ", Enumerable.Range(0, k).Select(j => confusion[c, j].ToString(CultureInfo.InvariantCulture).PadLeft(width))).Append('\n');
        }
        return new ClassificationMetrics((double)correct / n, recalls.Average(), loss / n, table.ToString());
    }
}
