using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetClassify.Tests.Training;

/// <summary>One estimator to put through <see cref="EstimatorWorkout.Run"/>.</summary>
/// <param name="Estimator">Makes the estimator reading the given input column.</param>
/// <param name="InputColumn">The column the estimator reads (the one the wrong-name and wrong-type checks change).</param>
/// <param name="Data">Rows the estimator fits on and scores.</param>
/// <param name="WrongType">The same columns, with <paramref name="InputColumn"/> of a type the estimator cannot use.</param>
/// <param name="ScoreColumn">The float-vector output compared before and after save → load.</param>
/// <param name="ScoreSize">Its length.</param>
internal sealed record WorkoutCase(
    Func<MLContext, string, IEstimator<ITransformer>> Estimator, string InputColumn,
    Func<MLContext, IDataView> Data, Func<MLContext, IDataView> WrongType, string ScoreColumn, int ScoreSize);

/// <summary>
/// ML.NET's estimator checks (its tests' TestEstimatorCore), for any estimator: the output schema it promises is the
/// schema its transformer delivers; a missing input column and an input column of the wrong type each fail with
/// ArgumentOutOfRangeException or InvalidOperationException, from GetOutputSchema and from Fit, naming the column; and
/// the fitted model saved with stock Model.Save and loaded with stock Model.Load in a fresh MLContext scores bit-equal.
/// </summary>
internal static class EstimatorWorkout
{
    public const string MissingColumn = "NoSuchColumn";

    /// <summary>ML.NET keeps SchemaShape.Create internal; the workout needs it to compare an estimator's promise with its transformer.</summary>
    public static SchemaShape ShapeOf(DataViewSchema schema) =>
        (SchemaShape)typeof(SchemaShape).GetMethod("Create", BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public, [typeof(DataViewSchema)])!
            .Invoke(null, [schema])!;

    public static void Run(WorkoutCase c)
    {
        var ml = new MLContext(1);
        var data = c.Data(ml);
        var estimator = c.Estimator(ml, c.InputColumn);
        var promised = estimator.GetOutputSchema(ShapeOf(data.Schema));
        var model = estimator.Fit(data);
        var scored = model.Transform(data);
        AssertSameShape(promised, ShapeOf(scored.Schema));
        var score = Assert.IsType<VectorDataViewType>(scored.Schema[c.ScoreColumn].Type);
        Assert.Equal((typeof(float), c.ScoreSize), (score.ItemType.RawType, score.Size));

        var missing = c.Estimator(ml, MissingColumn);
        AssertSchemaError(MissingColumn, () => missing.GetOutputSchema(ShapeOf(data.Schema)), "GetOutputSchema, missing column");
        AssertSchemaError(MissingColumn, () => missing.Fit(data), "Fit, missing column");
        var wrong = c.WrongType(ml);
        AssertSchemaError(c.InputColumn, () => estimator.GetOutputSchema(ShapeOf(wrong.Schema)), "GetOutputSchema, wrong type");
        AssertSchemaError(c.InputColumn, () => estimator.Fit(wrong), "Fit, wrong type");

        var path = Path.Combine(TestPaths.NewTempDirectory(), "model.zip");
        ml.Model.Save(model, data.Schema, path);
        var fresh = new MLContext(7);
        var loaded = fresh.Model.Load(path, out var savedSchema);
        Assert.Equal(data.Schema.Select(s => (s.Name, s.Type)), savedSchema.Select(s => (s.Name, s.Type)));
        var before = scored.GetColumn<float[]>(c.ScoreColumn).ToList();
        var after = loaded.Transform(c.Data(fresh)).GetColumn<float[]>(c.ScoreColumn).ToList();
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++)
            Assert.True(before[i].SequenceEqual(after[i]), $"row {i}: {c.ScoreColumn} changed after save → load (largest difference {before[i].Zip(after[i], (a, b) => Math.Abs(a - b)).Max():E2})");
        File.Delete(path);
    }

    /// <summary>As ML.NET's CheckSameSchemaShape: the same columns, each of the same kind, item type and key-ness, with the promised annotations.</summary>
    private static void AssertSameShape(SchemaShape promised, SchemaShape delivered)
    {
        Assert.Equal(delivered.Select(d => d.Name).Order(StringComparer.Ordinal), promised.Select(p => p.Name).Order(StringComparer.Ordinal));
        foreach (var p in promised)
        {
            var d = delivered.Single(x => x.Name == p.Name);
            Assert.True(p.Kind == d.Kind, $"{p.Name}: promised {p.Kind}, delivered {d.Kind}");
            Assert.True(p.IsKey == d.IsKey, $"{p.Name}: promised key {p.IsKey}, delivered {d.IsKey}");
            Assert.True(p.ItemType.Equals(d.ItemType), $"{p.Name}: promised {p.ItemType}, delivered {d.ItemType}");
            var missing = p.Annotations.Select(a => a.Name).Except(d.Annotations.Select(a => a.Name)).ToList();
            Assert.True(missing.Count == 0, $"{p.Name}: annotations promised, not delivered: {string.Join(", ", missing)}");
        }
    }

    /// <summary>ML.NET's convention (TestEstimatorCore accepts these two), and a message that names the column.</summary>
    private static void AssertSchemaError(string column, Action action, string what)
    {
        var e = Record.Exception(action);
        Assert.True(e is not null, $"{what}: no exception");
        Assert.True(e is ArgumentOutOfRangeException or InvalidOperationException, $"{what}: {e.GetType().Name}: {e.Message}");
        Assert.Contains($"'{column}'", e.Message);
    }
}
