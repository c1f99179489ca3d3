using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace MLNetClassify.Tests.Cli;

/// <summary>codegen: the generated console and web projects build with no warning and score as the CLI does.</summary>
[Collection(LogoModelCollection.Name)]
public class CodegenTests(LogoModelFixture fixture)
{
    private static readonly Dictionary<string, string> Quiet = new() { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" };

    private static void Build(string project)
    {
        var run = CliRunner.Process("dotnet", ["build", project, "-c", "Debug"], project, Quiet);
        Assert.True(run.ExitCode == 0, $"dotnet build {project}: exit {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        Assert.Contains(" 0 Warning(s)", run.Stdout);
    }

    [Fact]
    public async Task Codegen_ConsoleAndWebProjects_BuildWithoutWarnings_AndScoreAsPredictDoes()
    {
        var dir = TestPaths.NewTempDirectory();
        var generated = CliRunner.Run(["codegen", "--model", fixture.ModelPath, "--out", dir, "--name", "Logo", "--web", "--json"]);
        Assert.True(generated.ExitCode == 0, generated.Stderr);
        var summary = JsonDocument.Parse(generated.StdoutLines[^1]).RootElement;
        var console = summary.GetProperty("console").GetString()!;
        var web = summary.GetProperty("web").GetString()!;
        // Stock packages only: nothing of MLNetClassify in either project.
        foreach (var project in new[] { Path.Combine(console, "Logo.csproj"), Path.Combine(web, "Logo.Web.csproj") })
            Assert.DoesNotContain("MLNetClassify", File.ReadAllText(project));
        // The projects get the scoring steps: their input is the image path alone.
        Assert.DoesNotContain("Label { get; set; }", File.ReadAllText(Path.Combine(console, "Logo.consumption.cs")));
        new Microsoft.ML.MLContext(1).Model.Load(Path.Combine(console, "model.zip"), out var inputSchema);
        Assert.Equal(["ImagePath"], inputSchema.Select(c => c.Name));

        Build(console);
        var images = fixture.Split.Test.Take(4).Select(i => i.ImagePath).ToList();
        var ours = CliRunner.Process("dotnet", [Path.Combine(console, "bin", "Debug", "net10.0", "Logo.dll"), .. images], console, Quiet);
        Assert.True(ours.ExitCode == 0, ours.Stderr);
        var predict = CliRunner.Run(["predict", "--model", fixture.ModelPath, "--json", .. images]);
        Assert.Equal(0, predict.ExitCode);
        for (int i = 0; i < images.Count; i++)
        {
            var fields = ours.StdoutLines[i].Split('\t');
            var expected = JsonDocument.Parse(predict.StdoutLines[i]).RootElement;
            Assert.Equal(images[i], fields[0]);
            Assert.Equal(expected.GetProperty("label").GetString(), fields[1]);
            Assert.Equal(expected.GetProperty("score").GetDouble(), double.Parse(fields[2], CultureInfo.InvariantCulture), 1e-5);
        }

        Build(web);
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = web, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(web, "bin", "Debug", "net10.0", "Logo.Web.dll"), "--urls", $"http://127.0.0.1:{port}" }) start.ArgumentList.Add(a);
        using var server = Process.Start(start)!;
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            HttpResponseMessage? health = null;
            while (DateTime.UtcNow < deadline)
            {
                try
                {
                    health = await http.GetAsync("/health");
                    break;
                }
                catch (HttpRequestException) { await Task.Delay(250); }
            }
            Assert.NotNull(health);
            Assert.Equal(HttpStatusCode.OK, health!.StatusCode);

            using var upload = new MultipartFormDataContent { { new ByteArrayContent(File.ReadAllBytes(images[0])), "image", Path.GetFileName(images[0]) } };
            var answer = await http.PostAsync("/predict", upload);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(JsonDocument.Parse(predict.StdoutLines[0]).RootElement.GetProperty("label").GetString(), body.GetProperty("label").GetString());
            Assert.Equal(2, body.GetProperty("top").GetArrayLength());

            using var text = new MultipartFormDataContent { { new ByteArrayContent("not an image"u8.ToArray()), "image", "notes.jpg" } };
            var refused = await http.PostAsync("/predict", text);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("not a readable image", await refused.Content.ReadAsStringAsync());
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            server.WaitForExit(10_000);
        }
        Assert.True(server.HasExited);
    }

    [Fact]
    public void Codegen_RefusesABadNameAndAnExistingFolder()
    {
        var dir = TestPaths.NewTempDirectory();
        var bad = CliRunner.Run(["codegen", "--model", fixture.ModelPath, "--out", dir, "--name", "2fast"]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("not a C# identifier", bad.Stderr);
        Directory.CreateDirectory(Path.Combine(dir, "Taken"));
        var taken = CliRunner.Run(["codegen", "--model", fixture.ModelPath, "--out", dir, "--name", "Taken"]);
        Assert.Equal(2, taken.ExitCode);
        Assert.Contains("exists already", taken.Stderr);
    }
}
