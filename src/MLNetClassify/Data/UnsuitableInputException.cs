namespace MLNetClassify.Data;

/// <summary>
/// What was given cannot serve what was asked: a model without the parts an operation needs, a combination of options
/// that does not fit the data. The message names the file or option and says why. The CLI answers it with exit 2, as it
/// does a missing file or a bad argument, and never as a bug.
/// </summary>
public sealed class UnsuitableInputException : Exception
{
    /// <summary>An exception whose <paramref name="message"/> names the input and the problem.</summary>
    public UnsuitableInputException(string message)
        : base(message)
    {
    }

    /// <summary>The same, with the exception that revealed the problem.</summary>
    public UnsuitableInputException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
