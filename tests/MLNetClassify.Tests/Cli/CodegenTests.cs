using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Heads;
using MLNetClassify.Tests.Images;
using MLNetClassify.Training;
using SkiaSharp;
using Xunit.Abstractions;

namespace MLNetClassify.Tests.Cli;

/// <summary>codegen: the generated projects build with no warning, score as the CLI does, and the web service holds against hostile uploads.</summary>
[Collection(LogoModelCollection.Name)]
public class CodegenTests(LogoModelFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public void Codegen_ConsoleProject_ReferencesPackagesOnly_BuildsWithoutWarnings_AndScoresAsPredictDoes()
    {
        var dir = TestPaths.NewTempDirectory();
        var console = GeneratedProjects.Generate(fixture.ModelPath, dir, "Logo", web: false).GetProperty("console").GetString()!;
        // Packages only (the library from the local feed), and the scoring steps: the zip's input is the image path alone.
        var project = File.ReadAllText(Path.Combine(console, "Logo.csproj"));
        Assert.Contains($"<PackageReference Include=\"MLNetClassify\" Version=\"{GeneratedProjects.LibraryFeed.Version}\" />", project);
        Assert.DoesNotContain("ProjectReference", project);
        new MLContext(1).Model.Load(Path.Combine(console, "model.zip"), out var inputSchema);
        Assert.Equal(["ImagePath"], inputSchema.Select(c => c.Name));

        GeneratedProjects.Build(console);
        var images = fixture.Split.Test.Take(4).Select(i => i.ImagePath).ToList();
        var truncated = Path.Combine(dir, "cut.jpg");
        File.WriteAllBytes(truncated, File.ReadAllBytes(images[0])[..^2000]);
        var ours = CliRunner.Process("dotnet", [Path.Combine(console, "bin", "Debug", "net10.0", "Logo.dll"), .. images, truncated], console);
        Assert.Equal(1, ours.ExitCode); // the cut-short file is named, the others scored
        Assert.Contains($"{truncated}: incomplete image data: the file is cut short", ours.Stderr);
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
    }

    [Fact]
    public async Task Codegen_WebService_RefusesHostileUploads_ScoresSidewaysPhotosUpright_AndSwapsTheModelUnderLoad()
    {
        var dir = TestPaths.NewTempDirectory();
        var web = WebProject();
        var bin = Path.Combine(web, "bin", "Debug", "net10.0");
        var modelPath = Path.Combine(bin, "model.zip");

        // The inputs. A second model (two epochs) to swap in, and each model's scores of the photo, from the library in this process.
        var photo = fixture.Split.Test.First(i => i.Label == "logo").ImagePath;
        var ml = new MLContext(1);
        var b = ClassifierWorkflow.Train(ml, fixture.Split, new ImageClassifierOptions { Head = new SoftmaxHeadOptions { Epochs = 2 } });
        var modelB = Path.Combine(dir, "b.zip");
        ml.ImageClassification().SaveScoringModel(b.Model, b.InputSchema!, modelB);
        float[] ScoresOf(string model)
        {
            using var pool = new MLContext(1).ImageClassification().CreatePool(model, maxEngines: 1);
            return pool.Predict(photo).Scores.ToArray();
        }
        var expectedA = ScoresOf(modelPath);
        var expectedB = ScoresOf(modelB);
        Assert.True(Distance(expectedA, expectedB) > 1e-3, "the two models score the photo alike: the swap could not be seen");

        var serviceTemp = Path.Combine(dir, "service-tmp");
        Directory.CreateDirectory(serviceTemp);
        using var service = new ServiceProcess(web, "Logo.Web.dll", serviceTemp);
        await service.WaitFor("/health");
        await service.WaitFor("/ready");
        var ready = JsonDocument.Parse(await service.Http.GetStringAsync("/ready")).RootElement;
        Assert.Equal(["logo", "other"], ready.GetProperty("labels").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("\"/predict\"", await service.Http.GetStringAsync("/openapi/v1.json"));

        // Hostile and broken uploads: 4xx with a problem-details message, each within a second.
        async Task Refused(HttpContent content, HttpStatusCode status, string message)
        {
            var clock = Stopwatch.StartNew();
            // Expect: 100-continue, as curl sends it for large bodies: a 413 then comes before the body is sent (a client
            // that sends 40 MB regardless sees the connection closed after the 413).
            using var request = new HttpRequestMessage(HttpMethod.Post, "/predict") { Content = content, Headers = { ExpectContinue = true } };
            using var answer = await service.Http.SendAsync(request);
            clock.Stop();
            var body = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == status, $"{(int)answer.StatusCode} {body}");
            Assert.Equal("application/problem+json", answer.Content.Headers.ContentType?.MediaType);
            Assert.Contains(message, JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString());
            output.WriteLine($"{(int)status} in {clock.Elapsed.TotalMilliseconds:F0} ms: {message}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"answered {(int)status} after {clock.Elapsed.TotalSeconds:F2} s");
        }
        var bomb = TestPictures.PngBomb(30_000); // 900 megapixels, a few hundred KB: 3.6 GB once decoded
        await Refused(Form(bomb, "bomb.png"), HttpStatusCode.BadRequest, "30000×30000 pixels (900 megapixels) is over the limit of 50 megapixels; not decoded");
        var noise = new byte[40_000_000];
        new Random(1).NextBytes(noise);
        await Refused(Form(noise, "noise.jpg"), HttpStatusCode.RequestEntityTooLarge, "larger than 20971520 bytes");
        var jpeg = File.ReadAllBytes(photo);
        await Refused(Form(jpeg[..(jpeg.Length / 2)], "cut.jpg"), HttpStatusCode.BadRequest, "cut short");
        await Refused(Form("not an image"u8.ToArray(), "notes.jpg"), HttpStatusCode.BadRequest, "not an image");
        await Refused(new MultipartFormDataContent { { new StringContent("hello"), "comment" } }, HttpStatusCode.BadRequest, "no file in a field named 'image'");

        // A phone photo stored sideways (EXIF orientation 6) scores as the same photo stored upright.
        using (var small = SKBitmap.Decode(photo))
        using (var upright = small.Resize(new SKImageInfo(small.Width * 8, small.Height * 6), SKFilterQuality.High))
        using (var stored = TestPictures.Stored(upright, 6))
        {
            var asUpright = await Predict(service, TestPictures.Encode(upright, SKEncodedImageFormat.Jpeg));
            var sideways = await Predict(service, TestPictures.JpegWithOrientation(stored, 6));
            var ignored = await Predict(service, TestPictures.Encode(stored, SKEncodedImageFormat.Jpeg)); // what a loader that ignores EXIF sees
            output.WriteLine($"sideways − upright {Distance(sideways, asUpright):E2}, orientation ignored − upright {Distance(ignored, asUpright):E2}");
            Assert.True(Distance(sideways, asUpright) <= SidewaysTolerance, $"sideways {Distance(sideways, asUpright):E2} from upright");
            Assert.True(Distance(ignored, asUpright) > SidewaysTolerance, $"turned {Distance(ignored, asUpright):E2} from upright: the photo cannot tell");
        }

        // 16 clients × 25 requests of the photo; after the 100th answer a new model is renamed onto model.zip. Every
        // answer is one model's scores, both models answer, and the one after the load is the new model's.
        var answers = new ConcurrentBag<float[]>();
        var failures = new ConcurrentBag<string>();
        int answered = 0;
        var swapped = new TaskCompletionSource();
        var clients = Enumerable.Range(0, 16).Select(client => Task.Run(async () =>
        {
            for (int n = 0; n < 25; n++)
            {
                using var answer = await service.Http.PostAsync("/predict", Form(jpeg, "photo.jpg"));
                var body = await answer.Content.ReadAsStringAsync();
                if (answer.StatusCode != HttpStatusCode.OK) { failures.Add($"{(int)answer.StatusCode} {body}"); continue; }
                answers.Add(ScoresIn(body));
                if (Interlocked.Increment(ref answered) == 100)
                    _ = Task.Run(() =>
                    {
                        var next = Path.Combine(bin, "model.zip.new");
                        File.Copy(modelB, next);
                        File.Move(next, modelPath, overwrite: true);
                        swapped.SetResult();
                    });
            }
        })).ToList();
        await Task.WhenAll(clients);
        await swapped.Task;
        Assert.Empty(failures);
        Assert.Equal(400, answers.Count);
        int fromA = answers.Count(s => Distance(s, expectedA) <= 1e-5), fromB = answers.Count(s => Distance(s, expectedB) <= 1e-5);
        Assert.Equal(400, fromA + fromB);
        output.WriteLine($"answers: {fromA} from the first model, {fromB} from the second");
        Assert.True(fromA >= 100, $"{fromA} answers from the first model");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Distance(await Predict(service, jpeg), expectedB) > 1e-5 && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.True(Distance(await Predict(service, jpeg), expectedB) <= 1e-5, $"the new model never answered: {string.Join('\n', service.Log)}");

        long? peak = service.PeakResidentBytes();
        output.WriteLine($"peak RSS {peak / 1048576.0:F0} MiB");
        Assert.True(peak is null || peak <= 1L << 30, $"peak RSS {peak / 1048576.0:F0} MiB");
        Assert.True(service.Stop(), "the service did not stop on SIGTERM");
        // No upload ever touched the disk, and the models' temporary ONNX copies went with them. Left: ONNX Runtime's
        // telemetry session id (.ses, 51 bytes), which it keeps in the temporary folder.
        Assert.DoesNotContain(Directory.GetFiles(serviceTemp), f => Path.GetFileName(f) != ".ses");
    }

    [Fact]
    public async Task Codegen_WebService_AnswersBeyondItsQueue503WithRetryAfter_AndTimesOutASlowUpload504()
    {
        var web = WebProject();
        var serviceTemp = TestPaths.NewTempDirectory();
        var jpeg = File.ReadAllBytes(fixture.Split.Test[0].ImagePath);
        // One request scored at a time, none waiting, one second per request: set through the environment, as a host would.
        using var service = new ServiceProcess(web, "Logo.Web.dll", serviceTemp, new Dictionary<string, string>
        {
            ["Classifier__ScoringConcurrency"] = "1",
            ["Classifier__QueueLimit"] = "0",
            ["Classifier__RequestTimeoutSeconds"] = "1",
        });
        await service.WaitFor("/ready");

        // A client that sends half its upload and stalls holds the one scoring slot: others are turned away at once, and
        // it is answered 504 at its timeout, while the rest of its body never comes.
        var slow = SendHalfAndStall(service.Port, jpeg);
        await Task.Delay(300);
        using (var busy = await service.Http.PostAsync("/predict", Form(jpeg, "photo.jpg")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), busy.Headers.RetryAfter?.Delta);
            Assert.Contains("retry later", JsonDocument.Parse(await busy.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString());
        }
        var timedOut = await slow;
        Assert.StartsWith("HTTP/1.1 504", timedOut);
        Assert.Contains("longer than 1 s", timedOut);
        Assert.Equal(HttpStatusCode.OK, (await service.Http.PostAsync("/predict", Form(jpeg, "photo.jpg"))).StatusCode);
        Assert.True(service.Stop(), "the service did not stop on SIGTERM");
    }

    /// <summary>
    /// Posts <paramref name="image"/> as a multipart form over a raw connection, sends half the body, and reads what
    /// the server answers without sending the rest (10 s at most).
    /// </summary>
    private static async Task<string> SendHalfAndStall(int port, byte[] image)
    {
        const string boundary = "stall";
        byte[] body = [.. System.Text.Encoding.ASCII.GetBytes($"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"slow.jpg\"\r\n\r\n"),
            .. image, .. System.Text.Encoding.ASCII.GetBytes($"\r\n--{boundary}--\r\n")];
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        var head = $"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {body.Length}\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
        await stream.WriteAsync(body.AsMemory(0, body.Length / 2));
        using var reader = new StreamReader(stream);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var answer = new System.Text.StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer, patience.Token)) > 0)
        {
            answer.Append(buffer, 0, read);
            if (answer.ToString().Contains("}", StringComparison.Ordinal)) break; // the problem document has arrived
        }
        return answer.ToString();
    }

    /// <summary>The web project generated from the fixture's model and built, once for this class's tests.</summary>
    private string WebProject()
    {
        lock (WebProjects)
        {
            if (WebProjects.TryGetValue(fixture.ModelPath, out var built)) return built;
            var web = GeneratedProjects.Generate(fixture.ModelPath, TestPaths.NewTempDirectory(), "Logo", web: true).GetProperty("web").GetString()!;
            Assert.DoesNotContain("ProjectReference", File.ReadAllText(Path.Combine(web, "Logo.Web.csproj")));
            GeneratedProjects.Build(web);
            return WebProjects[fixture.ModelPath] = web;
        }
    }

    private static readonly Dictionary<string, string> WebProjects = [];

    /// <summary>
    /// How far a sideways-stored photo's scores may be from the upright-stored one's: both are JPEGs of the same
    /// pixels, decoded at 1/4 scale in different orientations, so the pixels differ by JPEG's rounding.
    /// </summary>
    private const double SidewaysTolerance = 0.02;

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

    private static MultipartFormDataContent Form(byte[] file, string fileName) => new() { { new ByteArrayContent(file), "image", fileName } };

    private static async Task<float[]> Predict(ServiceProcess service, byte[] image)
    {
        using var answer = await service.Http.PostAsync("/predict", Form(image, "photo.jpg"));
        var body = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.StatusCode == HttpStatusCode.OK, body);
        return ScoresIn(body);
    }

    /// <summary>The scores of a /predict answer in the model's class order (logo, other).</summary>
    private static float[] ScoresIn(string body)
    {
        var top = JsonDocument.Parse(body).RootElement.GetProperty("top").EnumerateArray()
            .ToDictionary(e => e.GetProperty("label").GetString()!, e => e.GetProperty("score").GetSingle());
        return [top["logo"], top["other"]];
    }

    private static double Distance(IReadOnlyList<float> a, IReadOnlyList<float> b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
}
