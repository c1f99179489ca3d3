using System.Text.Json.Serialization;
using MLNetClassify.Cli.Commands;

namespace MLNetClassify.Cli;

/// <summary>
/// Every JSON document the CLI writes, as typed records with source-generated contracts: keys in snake_case, null
/// values left out unless a record says a key is always present. The verbs' keys are a contract for scripts.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(TrainCommand.Summary), TypeInfoPropertyName = "TrainSummary")]
[JsonSerializable(typeof(EvaluateCommand.Summary), TypeInfoPropertyName = "EvaluateSummary")]
[JsonSerializable(typeof(PredictCommand.Line), TypeInfoPropertyName = "PredictLine")]
[JsonSerializable(typeof(PredictCommand.Summary), TypeInfoPropertyName = "PredictSummary")]
[JsonSerializable(typeof(PredictionFiles.Header), TypeInfoPropertyName = "ShardHeader")]
[JsonSerializable(typeof(ExplainCommand.Line), TypeInfoPropertyName = "ExplainLine")]
[JsonSerializable(typeof(ExportCommand.Summary), TypeInfoPropertyName = "ExportSummary")]
[JsonSerializable(typeof(CodegenCommand.Summary), TypeInfoPropertyName = "CodegenSummary")]
[JsonSerializable(typeof(InfoCommand.Summary), TypeInfoPropertyName = "InfoSummary")]
[JsonSerializable(typeof(InfoCommand.TrainingRecord), TypeInfoPropertyName = "TrainingRecord")]
[JsonSerializable(typeof(FeaturizeCommand.Summary), TypeInfoPropertyName = "FeaturizeSummary")]
[JsonSerializable(typeof(FeaturizeCommand.MergeSummary), TypeInfoPropertyName = "MergeSummary")]
[JsonSerializable(typeof(BackbonesCommand.Row), TypeInfoPropertyName = "BackboneRow")]
[JsonSerializable(typeof(List<BackbonesCommand.Row>), TypeInfoPropertyName = "BackboneRows")]
[JsonSerializable(typeof(BackbonesCommand.Inspection), TypeInfoPropertyName = "Inspection")]
[JsonSerializable(typeof(BaselinesCommand.Row), TypeInfoPropertyName = "BaselineRow")]
[JsonSerializable(typeof(List<BaselinesCommand.Row>), TypeInfoPropertyName = "BaselineRows")]
[JsonSerializable(typeof(DemoCommand.Summary), TypeInfoPropertyName = "DemoSummary")]
[JsonSerializable(typeof(BenchCommand.Summary), TypeInfoPropertyName = "BenchSummary")]
[JsonSerializable(typeof(BenchSides.SideResult), TypeInfoPropertyName = "SideResult")]
[JsonSerializable(typeof(BenchSides.LatencyResult), TypeInfoPropertyName = "LatencyResult")]
[JsonSerializable(typeof(GpuCheckCommand.Summary), TypeInfoPropertyName = "GpuCheckSummary")]
internal sealed partial class CliJson : JsonSerializerContext;
