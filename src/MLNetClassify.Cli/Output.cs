using System.Text.Json.Serialization.Metadata;
using System.Text.Json;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Learning;
using Spectre.Console;

namespace MLNetClassify.Cli;

/// <summary>How verbs talk: results on stdout (text, or one JSON object per line), progress and warnings on stderr.</summary>
internal static class Output
{
    /// <summary>Writes <paramref name="value"/> as one JSON line on stdout, through its source-generated contract.</summary>
    public static void JsonLine<T>(T value, JsonTypeInfo<T> contract) => Console.Out.WriteLine(JsonSerializer.Serialize(value, contract));

    /// <summary>A step of the work, on stderr so that stdout stays parseable.</summary>
    public static void Step(string message) => Console.Error.WriteLine(message);

    /// <summary>A warning on stderr.</summary>
    public static void Warn(string message) => Console.Error.WriteLine($"warning: {message}");

    /// <summary>Reports each skipped image on stderr.</summary>
    public static void ReportSkipped(IEnumerable<SkippedImage> skipped, string what)
    {
        foreach (var s in skipped)
            Warn($"skipped {what} image {s.Source}: {s.Reason}");
    }

    /// <summary>
    /// Runs <paramref name="body"/> with progress on stderr: when stderr is a terminal, a Spectre.Console bar (images
    /// done, images/s, time left) while featurizing and a live epoch line (loss, validation accuracy) while training;
    /// when it is redirected, plain lines at most every half second and every tenth epoch. Stdout is never written.
    /// </summary>
    public static T WithProgress<T>(string label, Func<IProgress<FeaturizationProgress>, IProgress<EpochMetrics>, T> body)
    {
        if (Console.IsErrorRedirected || Environment.GetEnvironmentVariable("TERM") == "dumb")
            return body(FeaturizationProgress(label), EpochLines());
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var featurizing = context.AddTask(label, maxValue: 1);
                ProgressTask? training = null;
                var images = new SyncProgress<FeaturizationProgress>(p =>
                {
                    featurizing.MaxValue = Math.Max(1, p.Total);
                    featurizing.Value = p.Done;
                    featurizing.Description = $"{label} {p.Done}/{p.Total} · {p.ImagesPerSecond:F1} img/s";
                });
                var epochs = new SyncProgress<EpochMetrics>(e =>
                {
                    featurizing.Value = featurizing.MaxValue;
                    training ??= context.AddTask("training", maxValue: 1).IsIndeterminate();
                    training.Description = Markup.Escape(EpochLine(e));
                });
                var result = body(images, epochs);
                featurizing.Value = featurizing.MaxValue;
                if (training is not null) training.IsIndeterminate(false).Value(1);
                return result;
            });
    }

    /// <summary>One epoch as the progress shows it: its phase, and the validation figures where it has them.</summary>
    internal static string EpochLine(EpochMetrics e)
    {
        string phase = e.Phase switch
        {
            EpochPhase.NewClasses => "new classes, epoch",
            EpochPhase.Refit => "refit on all training rows, epoch",
            EpochPhase.RefitNewClasses => "refit on all training rows, new classes, epoch",
            EpochPhase.FineTune => "fine-tuning the last stage, epoch",
            _ => "epoch",
        };
        string left = e.TimeLeft is { } t && t > TimeSpan.Zero ? $", about {t.TotalMinutes:F1} min left at most" : "";
        if (e.Phase == EpochPhase.FineTune && e.Epoch == 0)
            return $"{phase} 0 (the head alone): validation loss {e.ValidationLoss:F4}, validation accuracy {e.ValidationAccuracy:F3}";
        return e.ValidationLoss is { } loss
            ? $"{phase} {e.Epoch}: loss {e.TrainLoss:F4}, validation loss {loss:F4}, validation accuracy {e.ValidationAccuracy:F3}{left}"
            : $"{phase} {e.Epoch}: loss {e.TrainLoss:F4}{left}";
    }

    /// <summary>Every tenth training epoch (and the first) as a plain line on stderr.</summary>
    private static IProgress<EpochMetrics> EpochLines() => new SyncProgress<EpochMetrics>(e =>
    {
        if (e.Phase == EpochPhase.FineTune || (!e.IsRefit && (e.Epoch == 1 || e.Epoch % 10 == 0)))
            Console.Error.WriteLine($"  {EpochLine(e)}");
    });

    /// <summary>Featurization progress on stderr, at most every half second.</summary>
    public static IProgress<FeaturizationProgress> FeaturizationProgress(string label)
    {
        var last = DateTime.MinValue;
        return new SyncProgress<FeaturizationProgress>(p =>
        {
            if (p.Done < p.Total && DateTime.UtcNow - last < TimeSpan.FromSeconds(0.5)) return;
            last = DateTime.UtcNow;
            Console.Error.WriteLine($"  {label}: {p.Done}/{p.Total} images, {p.ImagesPerSecond:F1} img/s");
        });
    }
}
