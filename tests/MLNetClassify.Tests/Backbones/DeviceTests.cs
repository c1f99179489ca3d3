using System.Text.Json;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Cli.Commands;
using MLNetClassify.Featurization;
using MLNetClassify.Images;
using MLNetClassify.Tests.Cli;
using MLNetClassify.Tests.Featurization;

namespace MLNetClassify.Tests.Backbones;

[Collection(LogoModelCollection.Name)]
public class DeviceTests(LogoModelFixture fixture)
{
    [Theory]
    [InlineData("cpu", false, 0)]
    [InlineData("CUDA", true, 0)]
    [InlineData("cuda:3", true, 3)]
    public void Parse_AcceptsCpuCudaAndOrdinal(string text, bool cuda, int id)
    {
        var device = ExecutionDevice.Parse(text);
        Assert.Equal(cuda ? ExecutionDevice.Cuda(id) : ExecutionDevice.Cpu, device);
        Assert.Equal(cuda, device.IsCuda);
        Assert.Equal(cuda ? $"cuda:{id}" : "cpu", device.ToString());
    }

    [Fact]
    public void Default_IsTheCpu() => Assert.Equal(ExecutionDevice.Cpu, default(ExecutionDevice));

    [Theory]
    [InlineData("tpu")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:x")]
    public void Parse_ThrowsForUnknownDevice(string text) =>
        Assert.Contains("cpu, cuda or cuda:N", Assert.Throws<FormatException>(() => ExecutionDevice.Parse(text)).Message);

    private static string RequireNoCuda()
    {
        var reason = CudaSupport.WhyUnavailable();
        Skip.If(reason is null, "CUDA is usable here; the fallback path is tested on machines without it.");
        return reason!;
    }

    [SkippableFact]
    public void Featurizer_CudaUnavailable_FallsBackToCpuWithTheSameFeatures()
    {
        string reason = RequireNoCuda();
        var sources = fixture.Split.Test.Take(3).Select(i => ImageSource.FromFile(i.ImagePath)).ToList();
        var ml = new MLContext(1);
        using var cuda = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { Device = ExecutionDevice.Cuda() });
        using var cpu = new ImageFeaturizer(ml, BackboneCatalog.ResNet18);
        Assert.Equal(ExecutionDevice.Cpu, cuda.Device);
        Assert.Contains(reason, cuda.FallbackReason);
        Assert.Null(cpu.FallbackReason);
        var a = cuda.Featurize(sources).Features;
        var b = cpu.Featurize(sources).Features;
        Assert.Equal(a.Values, b.Values);
    }

    [SkippableFact]
    public void Featurizer_CudaRequiredButUnavailable_ThrowsNamingWhatIsMissing()
    {
        RequireNoCuda();
        var e = Assert.Throws<DeviceUnavailableException>(() =>
            new ImageFeaturizer(new MLContext(1), BackboneCatalog.ResNet18, new FeaturizerOptions { Device = ExecutionDevice.Cuda(), RequireDevice = true }));
        // The CPU package lacks the provider library; the GPU package on a host without CUDA lacks CUDA's libraries.
        Assert.Matches("libonnxruntime_providers_cuda\\.so|libcu[a-z]*\\.so|libcudnn", e.Message);
    }

    [SkippableFact]
    public void TrainCli_DeviceCuda_PrintsFallbackAndFinishesOnCpu()
    {
        string reason = RequireNoCuda();
        var model = Path.Combine(TestPaths.NewTempDirectory(), "m.zip");
        var run = CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--model", model, "--epochs", "5", "--device", "cuda", "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("running on the CPU", run.Stderr);
        Assert.Contains(reason, run.Stderr);
        Assert.Equal("cpu", JsonDocument.Parse(run.StdoutLines[^1]).RootElement.GetProperty("device").GetString());
        Assert.True(File.Exists(model));
    }

    [SkippableFact]
    public void TrainCli_RequireDevice_FailsNamingTheMissingLibraryAndWritesNothing()
    {
        RequireNoCuda();
        var dir = TestPaths.NewTempDirectory();
        var model = Path.Combine(dir, "m.zip");
        var run = CliRunner.Run(["train", "--data", fixture.DataDirectory, "--model", model, "--device", "cuda", "--require-device"]);
        Assert.Equal(2, run.ExitCode);
        Assert.Matches("libonnxruntime_providers_cuda\\.so|libcu[a-z]*\\.so|libcudnn", run.Stderr);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [SkippableFact]
    public void Featurizer_Cuda_AgreesWithCpu()
    {
        var reason = CudaSupport.WhyUnavailable();
        Skip.If(reason is not null, $"needs a usable CUDA device and the GPU build (-p:OnnxRuntimeFlavor=Gpu): {reason}");
        var sources = fixture.Split.Test.Select(i => ImageSource.FromFile(i.ImagePath)).ToList();
        var ml = new MLContext(1);
        using var cuda = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { Device = ExecutionDevice.Cuda(), RequireDevice = true });
        using var cpu = new ImageFeaturizer(ml, BackboneCatalog.ResNet18);
        var a = cuda.Featurize(sources).Features;
        var b = cpu.Featurize(sources).Features;
        for (int i = 0; i < a.Rows; i++)
            Assert.True(ImageFeaturizerTests.RelativeL2(a.Row(i), b.Row(i)) <= GpuCheckCommand.DefaultMaxRelativeL2);
    }
}
