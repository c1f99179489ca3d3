namespace MLNetClassify.Data;

/// <summary>One image that could not be read or featurized, and why.</summary>
/// <param name="Index">Its position in the input list.</param>
/// <param name="Source">The path or name of the image.</param>
/// <param name="Reason">What went wrong.</param>
public sealed record SkippedImage(int Index, string Source, string Reason);
