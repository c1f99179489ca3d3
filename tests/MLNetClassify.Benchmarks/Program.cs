// Accuracy against input size: dotnet run -c Release --project tests/MLNetClassify.Benchmarks -- sizes DIR SPLIT_FILE S1 S2 ...
// Speed, latency, memory, cache and model size against ML.NET in one run: `mlnet-classify bench --data DIR` (the CLI).
// Hot kernels under BenchmarkDotNet: ... -- kernels [BenchmarkDotNet arguments]
if (args.Length >= 1 && args[0] == "kernels")
{
    BenchmarkDotNet.Running.BenchmarkRunner.Run<MLNetClassify.Benchmarks.KernelBenchmarks>(args: args[1..]);
    return 0;
}
// float32 against int8: ... -- precision DIR SPLIT_FILE
if (args.Length == 3 && args[0] == "precision")
    return MLNetClassify.Benchmarks.Precision.Run(args[1], args[2]);
// int8 choices against float on every shared set: ... -- int8lab DATA_ROOT WORK_DIR [describe] [sensitivity] [realcalib] [mse] [auto] [float:i,j,...]...
//   or the peak memory of one graph build: ... -- int8lab x WORK_DIR peak:int8|peak:float32
if (args.Length >= 3 && args[0] == "int8lab")
    return MLNetClassify.Benchmarks.Int8Lab.Run(args[1], args[2], args[3..]);
// The 12-megapixel set for the large-photo bench: ... -- largephotos SOURCE_DATA_DIR TARGET_DIR [PER_LABEL=12]
if (args.Length >= 3 && args[0] == "largephotos")
    return MLNetClassify.Benchmarks.LargePhotos.Run(args[1], args[2], args.Length > 3 ? int.Parse(args[3]) : 12);
// Accuracy options beyond a linear probe: ... -- acclab featurize DATA_ROOT SET WORK [CROPS=4]
if (args.Length >= 4 && args[0] == "acclab" && args[1] == "featurize")
    return MLNetClassify.Benchmarks.AccuracyLab.Featurize(args[2], args[3], args[4], args.Length > 5 ? int.Parse(args[5]) : 4);
//   ... -- acclab heads WORK SET1,SET2 "CONFIG" "CONFIG"...
if (args.Length >= 5 && args[0] == "acclab" && args[1] == "heads")
    return MLNetClassify.Benchmarks.AccuracyLab.Heads(args[2], args[3].Split(','), args[4..]);
// Warm-start retraining against fresh training: ... -- retrainlab DATA_ROOT SET WORK [valid] [lr=X|patience=N|l2=X|knownrate=X|shrink=X,... ...]
//   (valid: a quarter of the training rows stands in for the test rows, for choosing)
if (args.Length >= 4 && args[0] == "retrainlab")
    return MLNetClassify.Benchmarks.RetrainLab.Run(args[1], args[2], args[3], args[4..]);
// Where a photo's decoding time goes, stage by stage: ... -- decodelab DIR [SIZE=224]
if (args.Length >= 2 && args[0] == "decodelab")
    return MLNetClassify.Benchmarks.DecodeLab.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : 224);
// CPU cost per image of each image step, one thread and two, against the stock path, PIL and tjbench: ... -- cpucost [WORK_DIR] [ROUNDS=7]
if (args.Length >= 1 && args[0] == "cpucost")
    return MLNetClassify.Benchmarks.CpuCostLab.Run(args.Length > 1 ? args[1] : null, args.Length > 2 ? int.Parse(args[2]) : 7);
// Peak RSS while featurizing with 2 and 16 cores seen (DOTNET_PROCESSOR_COUNT): ... -- featurizememory DATA_DIR [LIMIT=600] [ROUNDS=2] [int8] [CORES=2,16]
if (args.Length >= 2 && args[0] == "featurizememory")
{
    var rest = args.Skip(2).Where(a => a != "int8").ToList();
    return MLNetClassify.Benchmarks.FeaturizeMemoryLab.Run(args[1], rest.Count > 0 ? int.Parse(rest[0]) : 600, rest.Count > 1 ? int.Parse(rest[1]) : 2,
        args.Contains("int8"), rest.Count > 2 ? rest[2].Split(',').Select(int.Parse).ToArray() : [2, 16]);
}
if (args.Length == 4 && args[0] == "featurizememory-child")
    return MLNetClassify.Benchmarks.FeaturizeMemoryLab.Child(args[1], int.Parse(args[2]), args[3] == "int8");
if (args.Length == 3 && args[0] == "latencylab")
    return MLNetClassify.Benchmarks.LatencyLab.Run(args[1], args[2]);
// The featurizer's CPU modes, alternating: ... -- featurizemodes DIR [int8] [ROUNDS] [REPEAT]
if (args.Length >= 2 && args[0] == "featurizemodes")
{
    var numbers = args.Skip(2).Where(a => a != "int8").Select(int.Parse).ToList();
    return MLNetClassify.Benchmarks.FeaturizeModes.Run(args[1], args.Contains("int8"), numbers.ElementAtOrDefault(0) is > 0 and var r ? r : 3, numbers.ElementAtOrDefault(1) is > 0 and var k ? k : 1);
}
// Raw ONNX Runtime throughput: intra-op threads against one caller per core: ... -- ortthreads [int8] [BATCH] [SECONDS]
if (args.Length >= 1 && args[0] == "ortthreads")
    return MLNetClassify.Benchmarks.OrtThreadingLab.Run(args.Contains("int8"), args.Skip(1).Where(a => a != "int8").Select(int.Parse).FirstOrDefault(8),
        args.Skip(1).Where(a => a != "int8").Select(double.Parse).Skip(1).FirstOrDefault(8));
// More images over five halves, clean or mixed validation, shrunk or not: ... -- retrainb DATA_ROOT SET WORK [valid]
if (args.Length >= 4 && args[0] == "retrainb")
    return MLNetClassify.Benchmarks.RetrainB.Run(args[1], args[2], args[3], args.Contains("valid"));
// Where a retrain's seconds go against a fresh training, from cached features: ... -- retraintime DATA_ROOT SET WORK
if (args.Length == 4 && args[0] == "retraintime")
    return MLNetClassify.Benchmarks.RetrainTime.Run(args[1], args[2], args[3]);
// Load on a running generated web service against the pool in one process: ... -- servelab URL IMAGE_DIR MODEL_ZIP [REQUESTS_PER_LEVEL=400]
if (args.Length >= 4 && args[0] == "servelab")
    return MLNetClassify.Benchmarks.ServeLab.Run(args[1], args[2], args[3], args.Length > 4 ? int.Parse(args[4]) : 400);
// Damaged model zips through every way the library opens one: ... -- zipfuzz MODEL_ZIP IMAGE WORK_DIR [N=1000] [SEED=1] [KIND]
if (args.Length >= 4 && args[0] == "zipfuzz")
    return MLNetClassify.Benchmarks.ZipFuzzLab.Run(args[1], args[2], args[3], args.Length > 4 ? int.Parse(args[4]) : 1000, args.Length > 5 ? int.Parse(args[5]) : 1,
        args.Length > 6 ? args[6] : null);
// One training step of ResNet18's last stage on 224-pixel images' stage-3 maps, per image: ... -- tuninglab [BATCH=32] [STEPS=5]
// Head-only against fine-tuning ResNet18's last stage on a shared split: ... -- finetunelab SET [EPOCHS=4] [valid] [conv=X head=X views=N wd=X patience=N batch=N sgd]
if (args.Length >= 2 && args[0] == "finetunelab")
    return MLNetClassify.Benchmarks.FineTuneLab.Run(args[1], args[2..]);
if (args.Length >= 1 && args[0] == "tuninglab")
    return MLNetClassify.Benchmarks.TuningLab.Run(args.Length > 1 ? int.Parse(args[1]) : 32, args.Length > 2 ? int.Parse(args[2]) : 5);
if (args.Length == 1 && args[0] == "calibration-rms")
    return MLNetClassify.Benchmarks.AccuracyLab.CalibrationRms();
if (args.Length == 1 && args[0] == "nodes")
    return MLNetClassify.Benchmarks.AccuracyLab.Nodes();
if (args.Length >= 4 && args[0] == "sizes")
    return MLNetClassify.Benchmarks.InputSizes.Run(args[1], args[2], args[3..].Select(int.Parse).ToArray());
Console.Error.WriteLine("usage: MLNetClassify.Benchmarks sizes DATA_DIR SPLIT_FILE SIZE...");
Console.Error.WriteLine("       MLNetClassify.Benchmarks precision DATA_DIR SPLIT_FILE");
Console.Error.WriteLine("       MLNetClassify.Benchmarks int8lab SHARED_DATA_DIR WORK_DIR [describe] [sensitivity] [realcalib] [mse] [auto] [float:i,j,...]");
Console.Error.WriteLine("       MLNetClassify.Benchmarks kernels [--filter PATTERN] [--job short]");
Console.Error.WriteLine("       MLNetClassify.Benchmarks largephotos SOURCE_DATA_DIR TARGET_DIR [PER_LABEL]");
Console.Error.WriteLine("       (featurization, latency and memory against ML.NET: dotnet run --project src/MLNetClassify.Cli -- bench --data DIR)");
return 2;
