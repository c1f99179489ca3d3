using System.Globalization;
using System.Text;

namespace MLNetClassify.Data;

/// <summary>Precision, recall, F1 and support (images whose true class it is) of one class.</summary>
internal sealed record ClassMetrics(string Label, double Precision, double Recall, double F1, int Support);

/// <summary>
/// The library's one implementation of classification metrics, from class probabilities: accuracy, macro accuracy,
/// log-loss, the confusion matrix and per-class precision / recall / F1. Accuracy, macro accuracy and log-loss are
/// computed as ML.NET's multiclass evaluator computes them (the predicted class is the first highest probability;
/// log-loss clamps a probability to [1e-15, 1] in float; macro accuracy is the mean of per-class recalls over the
/// classes present); ClassificationMetricsTests asserts they equal its figures on a real model's scores.
/// </summary>
internal sealed record ClassificationMetrics(double Accuracy, double MacroAccuracy, double LogLoss, int[][] Confusion, IReadOnlyList<ClassMetrics> PerClass,
    IReadOnlyList<string> Classes)
{
    /// <summary>ML.NET's clamp of a probability before its log (a float, as its evaluator has it).</summary>
    private const float Epsilon = 1e-15f;

    /// <summary>The index of the first highest probability (ML.NET's predicted class for a Score vector).</summary>
    public static int Predicted(ReadOnlySpan<double> probabilities)
    {
        int best = 0;
        for (int c = 1; c < probabilities.Length; c++)
            if (probabilities[c] > probabilities[best]) best = c;
        return best;
    }

    /// <summary>One row's loss: −log of the probability of its true class, clamped as ML.NET clamps it.</summary>
    public static double Loss(double probability) => -Math.Log(Math.Min(1f, Math.Max(Epsilon, (float)probability)));

    /// <summary>The metrics of <paramref name="probabilities"/> (one row per image, class order of <paramref name="classes"/>) against <paramref name="labels"/>.</summary>
    /// <exception cref="ArgumentException">No rows, or rows and labels of different counts.</exception>
    public static ClassificationMetrics Of(IReadOnlyList<double[]> probabilities, IReadOnlyList<int> labels, IReadOnlyList<string> classes)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentNullException.ThrowIfNull(labels);
        if (probabilities.Count != labels.Count || labels.Count == 0)
            throw new ArgumentException($"{probabilities.Count} rows of probabilities for {labels.Count} labels; both must be the same, and not zero.");
        int n = labels.Count, k = classes.Count;
        var confusion = Enumerable.Range(0, k).Select(_ => new int[k]).ToArray();
        double loss = 0;
        int correct = 0;
        for (int i = 0; i < n; i++)
        {
            int predicted = Predicted(probabilities[i]);
            confusion[labels[i]][predicted]++;
            if (predicted == labels[i]) correct++;
            loss += Loss(probabilities[i][labels[i]]);
        }
        var perClass = Enumerable.Range(0, k).Select(c =>
        {
            int tp = confusion[c][c], support = confusion[c].Sum(), predicted = Enumerable.Range(0, k).Sum(t => confusion[t][c]);
            double precision = predicted == 0 ? 0 : tp / (double)predicted, recall = support == 0 ? 0 : tp / (double)support;
            return new ClassMetrics(classes[c], precision, recall, precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall), support);
        }).ToList();
        double macro = perClass.Where(c => c.Support > 0).Average(c => c.Recall);
        return new ClassificationMetrics((double)correct / n, macro, loss / n, confusion, perClass, classes);
    }

    /// <summary><see cref="Of(IReadOnlyList{double[]}, IReadOnlyList{int}, IReadOnlyList{string})"/> for float probabilities (a model's Score vectors).</summary>
    public static ClassificationMetrics Of(IReadOnlyList<float[]> probabilities, IReadOnlyList<int> labels, IReadOnlyList<string> classes) =>
        Of(probabilities.Select(p => Array.ConvertAll(p, v => (double)v)).ToList(), labels, classes);

    /// <summary>The confusion matrix as text: rows the true class, columns the predicted one.</summary>
    public string ConfusionTable
    {
        get
        {
            var table = new StringBuilder("Confusion table (rows: truth, columns: predicted)\n");
            int width = Math.Max(6, Classes.Max(c => c.Length));
            table.Append(' ', width + 1).AppendJoin(" ", Classes.Select(c => c.PadLeft(width))).Append('\n');
            for (int c = 0; c < Classes.Count; c++)
            {
                table.Append(Classes[c].PadLeft(width)).Append(' ');
                table.AppendJoin(" ", Confusion[c].Select(v => v.ToString(CultureInfo.InvariantCulture).PadLeft(width))).Append('\n');
            }
            return table.ToString();
        }
    }
}
