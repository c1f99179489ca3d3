using System.CommandLine;
using MLNetClassify.Backbones;
using MLNetClassify.Heads;
using MLNetClassify.Training;

namespace MLNetClassify.Cli.Commands;

/// <summary>The options <c>train</c> and <c>retrain</c> share.</summary>
internal static partial class TrainCommand
{
    /// <summary>The options <c>train</c> and <c>retrain</c> share, and how they fill <see cref="Settings"/>.</summary>
    private sealed class SharedOptions
    {
        private readonly Option<string> _data = CommonOptions.Data();
        private readonly Option<string?> _split = CommonOptions.Split();
        private readonly Option<double> _testFraction = CommonOptions.TestFraction();
        private readonly Option<int> _seed = CommonOptions.Seed("Seed for the split and the head's training.");
        private readonly Option<int?> _epochs = new Option<int?>("--epochs") { Description = "Most epochs for the softmax head (default 100, early stopping on)." }.AtLeast(1);
        private readonly Option<int> _augment = new Option<int>("--augment")
        {
            Description = "Augmented views per training image besides the image: 0 none, 1 its mirror image, K > 1 the mirror and K − 1 random resized crops "
                + $"(each one more backbone pass over the training images, cached; scoring unchanged). Default {ImageClassifierOptions.DefaultAugmentedViews}, chosen on validation folds of the training rows.",
            DefaultValueFactory = _ => ImageClassifierOptions.DefaultAugmentedViews,
        }.AtLeast(0).AtMost(16);
        private readonly Option<int> _tta = CommonOptions.Tta();
        private readonly Option<string?> _cache = CommonOptions.Cache();
        private readonly Option<bool> _noCache = CommonOptions.NoCache();
        private readonly Option<bool> _allowEmpty = new("--allow-empty-classes")
        {
            Description = "Train even when a label has no readable training image (the model then knows it but never predicts it); by default an error naming it.",
        };
        private readonly Option<bool> _allowOutside = CommonOptions.AllowOutsidePaths();
        private readonly Option<bool> _json = CommonOptions.Json();
        private readonly Option<ExecutionDevice> _device = CommonOptions.Device();
        private readonly Option<bool> _requireDevice = CommonOptions.RequireDevice();
        private readonly Option<bool> _tf32 = CommonOptions.Tf32();
        private readonly Option<int> _fineTune = new("--fine-tune")
        {
            Description = "Also train the backbone's last N stages (N = 1, the default when the option is given without a value: ResNet18's last two residual "
                + "blocks) after the head, at lower rates, stopping early on validation images drawn from the training images; the saved model carries the "
                + "tuned stage. Without it the backbone stays frozen. docs/fine-tuning.md has what it gained and cost.",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => 0,
            CustomParser = r => r.Tokens.Count == 0 ? 1 : int.TryParse(r.Tokens[0].Value, System.Globalization.CultureInfo.InvariantCulture, out int n) && n >= 1 ? n
                : ParseError(r, $"--fine-tune takes a number of stages (1 or more); got '{r.Tokens[0].Value}'."),
        };

        public IEnumerable<Option> All =>
            [_data, _split, _testFraction, _seed, _epochs, _augment, _tta, _cache, _noCache, _device, _requireDevice, _tf32, _fineTune, _allowEmpty, _allowOutside, _json];

        public Settings Read(ParseResult result, string model) => new()
        {
            Data = result.GetValue(_data)!,
            Model = model,
            Split = result.GetValue(_split),
            TestFraction = result.GetValue(_testFraction),
            Seed = result.GetValue(_seed),
            Epochs = result.GetValue(_epochs),
            Json = result.GetValue(_json),
            AllowEmptyClasses = result.GetValue(_allowEmpty),
            AllowOutsidePaths = result.GetValue(_allowOutside),
            Device = result.GetValue(_device),
            RequireDevice = result.GetValue(_requireDevice),
            Tf32 = result.GetValue(_tf32),
            Cache = CommonOptions.CacheFolder(result.GetValue(_cache), result.GetValue(_noCache)),
            Augment = result.GetValue(_augment),
            Tta = result.GetValue(_tta),
            // Given without a number, the option means one stage (the parser is not asked for a value then).
            FineTune = result.GetResult(_fineTune) is { Implicit: false } given ? (given.Tokens.Count == 0 ? 1 : result.GetValue(_fineTune)) : 0,
        };
    }

    private static int ParseError(System.CommandLine.Parsing.ArgumentResult result, string message)
    {
        result.AddError(message);
        return 0;
    }
}
