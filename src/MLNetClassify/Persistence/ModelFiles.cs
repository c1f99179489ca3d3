using Microsoft.ML;

namespace MLNetClassify.Persistence;

/// <summary>Saving and loading model zips, with errors that name the file.</summary>
public static class ModelFiles
{
    /// <summary>Saves with <c>mlContext.Model.Save</c> to a temporary file, then renames it over <paramref name="path"/>.</summary>
    public static void Save(MLContext mlContext, ITransformer model, DataViewSchema inputSchema, string path)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        AtomicFile.Write(path, stream => mlContext.Model.Save(model, inputSchema, stream));
    }

    /// <summary>Loads a model zip with stock <c>mlContext.Model.Load</c>.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not an ML.NET model zip.</exception>
    public static ITransformer Load(MLContext mlContext, string path) => Load(mlContext, path, out _);

    /// <summary>Loads a model zip and, with <paramref name="warmUp"/>, runs generated images through it (<see cref="ModelWarmUp"/>).</summary>
    public static ITransformer Load(MLContext mlContext, string path, bool warmUp)
    {
        var model = Load(mlContext, path, out var inputSchema);
        if (warmUp)
            ModelWarmUp.Run(mlContext, model, inputSchema);
        return model;
    }

    /// <summary>Loads a model zip, and the input schema saved with it.</summary>
    public static ITransformer Load(MLContext mlContext, string path, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file not found: {path}", path);
        try
        {
            return mlContext.Model.Load(path, out inputSchema);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or InvalidDataException or ArgumentException or System.IO.IOException)
        {
            throw new InvalidDataException($"{path} is not a readable ML.NET model zip: {e.Message}", e);
        }
    }
}
