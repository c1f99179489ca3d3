using System.CommandLine;
using MLNetClassify.Backbones;
using MLNetClassify.Data;

namespace MLNetClassify.Cli.Commands;

/// <summary>How a verb ends: its exit code, and what it says on stderr when it fails.</summary>
internal static class Verb
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>An unexpected exception: a bug (or the machine), said as such.</summary>
    public const int Unexpected = 1;

    /// <summary>The user's input is wrong (an option, a file, a folder, a model); the message says what.</summary>
    public const int InputError = 2;

    /// <summary>After Ctrl-C (128 + SIGINT).</summary>
    public const int Cancelled = 130;

    /// <summary>Sets <paramref name="command"/>'s action: <paramref name="body"/> under <see cref="Run"/>'s exit-code policy.</summary>
    public static void SetAction(Command command, Func<ParseResult, CancellationToken, int> body) =>
        command.SetAction((result, token) => Task.FromResult(Run(() => body(result, token), result.GetValue(CommonOptions.Verbose))));

    /// <summary>
    /// Runs a verb body: exit 2 with a one-line message for the user's input errors, 130 after Ctrl-C, and 1 for any
    /// other exception, naming its type (with the stack when <paramref name="verbose"/>).
    /// </summary>
    public static int Run(Func<int> body, bool verbose)
    {
        try
        {
            return body();
        }
        catch (OperationCanceledException)
        {
            Output.Step("cancelled: nothing was written.");
            return Cancelled;
        }
        catch (Exception e) when (IsInputError(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return InputError;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"error: unexpected {e.GetType().FullName}: {e.Message}");
            Console.Error.WriteLine(verbose
                ? e.ToString()
                : "This is a bug in mlnet-classify (or a fault of the machine); run again with --verbose for the stack, and report it.");
            return Unexpected;
        }
    }

    /// <summary>Exceptions that describe wrong input: arguments, missing or unreadable files and folders, bad data, an unusable required device.</summary>
    internal static bool IsInputError(Exception e) => e is ArgumentException or FileNotFoundException or DirectoryNotFoundException
        or InvalidDataException or UnauthorizedAccessException or FormatException or DeviceUnavailableException or UnsuitableInputException;
}
