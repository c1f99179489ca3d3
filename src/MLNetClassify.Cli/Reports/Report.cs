using System.Net;
using System.Text;
using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Learning;
using MLNetClassify.Models;
using MLNetClassify.Explanations;
using SkiaSharp;

namespace MLNetClassify.Cli.Reports;

/// <summary>Precision, recall, F1 and support of one class.</summary>
internal sealed record PerClass(string Label, double Precision, double Recall, double F1, int Support);

/// <summary>A confusion matrix: rows the true class, columns the predicted one, both in <see cref="Labels"/> order.</summary>
internal sealed record Confusion(IReadOnlyList<string> Labels, IReadOnlyList<IReadOnlyList<int>> Matrix);

/// <summary>A held-out image the model got most wrong: its true label, the prediction, and the probability it gave the true label.</summary>
internal sealed record TopLoss(string Path, string Label, string Predicted, double Probability, double Loss);

/// <summary>How often images of one class were taken for another.</summary>
internal sealed record ConfusedPair(string Label, string Predicted, int Count);

/// <summary>The keys <c>train --report</c> and <c>evaluate --report</c> add to their <c>--json</c> line (absent without --report).</summary>
internal abstract record ReportKeys
{
    /// <summary>Precision, recall, F1 and support per class.</summary>
    public IReadOnlyList<PerClass>? PerClass { get; init; }

    /// <summary>The confusion matrix and its label order.</summary>
    public Confusion? Confusion { get; init; }

    /// <summary>The images with the highest loss, highest first.</summary>
    public IReadOnlyList<TopLoss>? TopLosses { get; init; }

    /// <summary>The path of index.html.</summary>
    public string? Report { get; init; }
}

/// <summary>What a report shows, also written to <c>--json</c>.</summary>
internal sealed record ReportFigures(
    IReadOnlyList<PerClass> PerClass, Confusion Confusion, IReadOnlyList<TopLoss> TopLosses, IReadOnlyList<ConfusedPair> MostConfused, string Report);

/// <summary>
/// The report of a saved model on labelled images: one self-contained index.html (no scripts, no fonts, nothing
/// fetched) with PNG figures beside it: the confusion matrix, per-class precision / recall / F1, the most confused
/// pairs, the top losses with their class activation maps, and for training the loss and accuracy per epoch.
/// </summary>
internal static class Report
{
    /// <summary>How many top losses the report shows.</summary>
    public const int TopLossCount = 8;

    /// <summary>The images' predictions and the figures; written under <paramref name="folder"/>.</summary>
    public static (ReportFigures Figures, IReadOnlyList<(LabeledImage Image, float[] Probabilities)> Predictions) Write(
        MLContext mlContext, string modelPath, IReadOnlyList<LabeledImage> images, string folder, string title,
        TrainingResult<ITransformer>? training = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(folder);
        using var mapper = ClassActivationMapper.Open(mlContext, modelPath);
        using var scorer = new ClassifierScorer(mlContext, mapper.Model, modelPath);
        var classes = mapper.Classes;
        var (metrics, scored, usable, _) = scorer.Evaluate(images, 1, 1, cancellationToken);
        if (metrics is null)
            throw new ArgumentException($"None of the {images.Count} images can be reported on: none is readable with a label the model knows ({string.Join(", ", classes)}).");
        var predictions = scored!.SourceIndices.Select((source, row) => (usable[source], Array.ConvertAll(scored.Probabilities[row], p => (float)p))).ToList();
        var counts = metrics.Confusion;
        var perClass = metrics.PerClass.Select(c => new PerClass(c.Label, c.Precision, c.Recall, c.F1, c.Support)).ToList();
        int k = classes.Count;
        var confused = Enumerable.Range(0, k).SelectMany(t => Enumerable.Range(0, k).Where(p => p != t && counts[t][p] > 0)
            .Select(p => new ConfusedPair(classes[t], classes[p], counts[t][p]))).OrderByDescending(c => c.Count).ThenBy(c => c.Label, StringComparer.Ordinal).Take(10).ToList();
        var losses = predictions.Select(p => (Image: p.Item1, Probabilities: p.Item2, Truth: scorer.Model.ClassIndex(p.Item1.Label)))
            .Select(p => (p.Image, p.Probabilities, p.Truth, Loss: ClassificationMetrics.Loss(p.Probabilities[p.Truth])))
            .OrderByDescending(p => p.Loss).ThenBy(p => p.Image.ImagePath, StringComparer.Ordinal).Take(TopLossCount)
            .Select(p => new TopLoss(p.Image.ImagePath, p.Image.Label, classes[Array.IndexOf(p.Probabilities, p.Probabilities.Max())], p.Probabilities[p.Truth], p.Loss)).ToList();

        using (var matrix = Figures.ConfusionMatrix(classes, counts)) Figures.Save(matrix, Path.Combine(folder, "confusion.png"));
        using (var bars = Figures.Bars("per class: precision, recall, F1", classes,
            [("precision", perClass.Select(p => p.Precision).ToList()), ("recall", perClass.Select(p => p.Recall).ToList()), ("F1", perClass.Select(p => p.F1).ToList())]))
            Figures.Save(bars, Path.Combine(folder, "per-class.png"));
        var maps = mapper.Explain(losses.Select(l => l.Path).ToList(), null, cancellationToken);
        var tiles = losses.Zip(maps).Select(p => (Tile: Figures.Overlay(p.First.Path, p.Second, 160),
            Caption: new[] { Short(Path.GetFileName(p.First.Path)), $"true {p.First.Label}", $"predicted {p.First.Predicted}", $"P(true) {p.First.Probability:F3}" })).ToList();
        using (var strip = Figures.Strip(tiles.Select(t => (t.Tile, t.Caption)).ToList())) Figures.Save(strip, Path.Combine(folder, "top-losses.png"));
        foreach (var t in tiles) t.Tile.Dispose();

        var figures = new List<(string File, string Caption)>
        {
            ("confusion.png", "Confusion matrix (rows: true class; columns: predicted)."),
            ("per-class.png", "Precision, recall and F1 per class."),
            ("top-losses.png", $"The {losses.Count} images with the highest loss (−log of the probability given to the true class), each with the class activation map of its predicted class over it."),
        };
        if (training is not null)
        {
            // The epochs that were validated, in the order they ran (a warm start's new-classes epochs first); the
            // dashed line marks the chosen epoch of the last of them.
            var epochs = training.Epochs.Where(e => !e.IsRefit).ToList();
            int chosen = epochs.Count(e => e.Phase != EpochPhase.Train) + training.BestEpoch;
            using (var loss = Figures.Lines("loss per epoch", [("training", epochs.Select(e => e.TrainLoss).ToList()), ("validation", epochs.Select(e => e.ValidationLoss ?? double.NaN).ToList())], chosen))
                Figures.Save(loss, Path.Combine(folder, "epochs-loss.png"));
            using (var accuracy = Figures.Lines("accuracy per epoch", [("training", epochs.Select(e => e.TrainAccuracy).ToList()), ("validation", epochs.Select(e => e.ValidationAccuracy ?? double.NaN).ToList())], chosen))
                Figures.Save(accuracy, Path.Combine(folder, "epochs-accuracy.png"));
            figures.Add(("epochs-loss.png", epochs.Count > training.Epochs.Count(e => e.Phase == EpochPhase.Train)
                ? $"Loss per epoch on the training part and the validation part: the new classes alone first, then all classes; the dashed line marks the epoch early stopping chose in the second part ({training.BestEpoch})."
                : $"Loss per epoch on the training part and the validation part; the dashed line marks the epoch early stopping chose ({training.BestEpoch})."));
            figures.Add(("epochs-accuracy.png", "Accuracy per epoch on the same parts."));
        }
        var report = Path.Combine(folder, "index.html");
        File.WriteAllText(report, Html(title, modelPath, predictions.Count, images.Count - predictions.Count, perClass, confused, losses, figures));
        return (new ReportFigures(perClass, new Confusion(classes, counts.Select(r => (IReadOnlyList<int>)r).ToList()), losses, confused, Path.GetFullPath(report)), predictions);
    }

    private static string Short(string name) => name.Length <= 22 ? name : name[..21] + "…";

    private static string Html(string title, string model, int images, int left, IReadOnlyList<PerClass> perClass, IReadOnlyList<ConfusedPair> confused,
        IReadOnlyList<TopLoss> losses, IReadOnlyList<(string File, string Caption)> figures)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var html = new StringBuilder();
        double accuracy = perClass.Sum(p => p.Recall * p.Support) / Math.Max(1, perClass.Sum(p => p.Support));
        html.Append($"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{E(title)}</title>\n<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}"
            + "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
            + "figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}</style></head><body>\n");
        html.Append($"<h1>{E(title)}</h1>\n<p>Model <code>{E(model)}</code>, {images} images ({left} left out: unreadable, or labels the model does not know); accuracy {accuracy:F4}.</p>\n");
        html.Append("<h2>Per class</h2>\n<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n");
        foreach (var p in perClass)
            html.Append($"<tr><td>{E(p.Label)}</td><td>{p.Precision:F3}</td><td>{p.Recall:F3}</td><td>{p.F1:F3}</td><td>{p.Support}</td></tr>\n");
        html.Append("</table>\n<h2>Most confused</h2>\n");
        html.Append(confused.Count == 0 ? "<p>No image was taken for another class.</p>\n"
            : "<table><tr><th>true class</th><th>predicted</th><th>images</th></tr>\n" + string.Concat(confused.Select(c => $"<tr><td>{E(c.Label)}</td><td>{E(c.Predicted)}</td><td>{c.Count}</td></tr>\n")) + "</table>\n");
        html.Append("<h2>Top losses</h2>\n<table><tr><th>image</th><th>true</th><th>predicted</th><th>P(true)</th><th>loss</th></tr>\n");
        foreach (var l in losses)
            html.Append($"<tr><td>{E(l.Path)}</td><td>{E(l.Label)}</td><td>{E(l.Predicted)}</td><td>{l.Probability:F3}</td><td>{l.Loss:F3}</td></tr>\n");
        html.Append("</table>\n<h2>Figures</h2>\n");
        foreach (var (file, caption) in figures)
            html.Append($"<figure><img src=\"{file}\" alt=\"{E(caption)}\"><figcaption>{E(caption)}</figcaption></figure>\n");
        html.Append("</body></html>\n");
        return html.ToString();
    }
}
