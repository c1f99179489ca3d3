namespace MLNetClassify.Cli.Codegen;

/// <summary>
/// The web API project <c>codegen --web</c> writes: an ASP.NET Core minimal API over the library's pool, with the limits
/// a service exposed to uploads needs (body size, pixel limit, bounded concurrency and queue, a timeout), problem
/// details, liveness and readiness, OpenAPI, and model updates without a restart.
/// </summary>
internal static class WebTemplates
{
    /// <summary>The files of the web project besides its .csproj, the consumption class and the model.</summary>
    public static Dictionary<string, string> Files(string name) => new()
    {
        ["Program.cs"] = Program(name),
        ["ServiceSettings.cs"] = Settings(name),
        ["ModelHost.cs"] = ModelHost(name),
        ["Uploads.cs"] = Uploads(name),
        ["appsettings.json"] = AppSettings,
    };

    /// <summary>The service's defaults, as appsettings.json states them (ServiceSettings.cs repeats them for a missing file).</summary>
    public const string AppSettings = """
        {
          "Logging": {
            "LogLevel": {
              "Default": "Information",
              "Microsoft.AspNetCore": "Warning"
            }
          },
          "AllowedHosts": "*",
          "Classifier": {
            "ModelPath": "model.zip",
            "MaxRequestBytes": 20971520,
            "MaxImagePixels": 50000000,
            "ScoringConcurrency": 0,
            "QueueLimit": 64,
            "RequestTimeoutSeconds": 30,
            "ReloadOnChange": true
          }
        }

        """;

    private static string Program(string name) => $$"""
        using System.Threading.RateLimiting;
        using Microsoft.AspNetCore.Http.Timeouts;
        using Microsoft.AspNetCore.RateLimiting;
        using MLNetClassify.Serving;
        using {{name}};

        // POST /predict   a multipart form with the image in the field "image" → {label, score, top}
        // GET  /health    the process is up            GET /ready   the model is loaded and warmed (503 until then)
        // GET  /openapi/v1.json                        the OpenAPI document
        // Errors are RFC 7807 problem details. Limits: the "Classifier" section of appsettings.json (see ServiceSettings.cs).
        // Writing a new model.zip beside the app (atomically: write elsewhere, then rename) swaps it in without a restart.
        var builder = WebApplication.CreateBuilder(args);
        var settings = ServiceSettings.From(builder.Configuration);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = settings.MaxRequestBytes);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<ModelHost>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ModelHost>());
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi();
        builder.Services.AddRequestTimeouts(options => options.AddPolicy(ServiceSettings.ScoringPolicy, new RequestTimeoutPolicy
        {
            Timeout = TimeSpan.FromSeconds(settings.RequestTimeoutSeconds),
            TimeoutStatusCode = StatusCodes.Status504GatewayTimeout,
            WriteTimeoutResponse = context => Uploads.WriteProblemAsync(context, StatusCodes.Status504GatewayTimeout, "Request timed out",
                $"the request took longer than {settings.RequestTimeoutSeconds} s (Classifier:RequestTimeoutSeconds)"),
        }));
        builder.Services.AddRateLimiter(options =>
        {
            // At most ScoringConcurrency requests score at once; up to QueueLimit more wait their turn; the rest get 503.
            options.AddConcurrencyLimiter(ServiceSettings.ScoringPolicy, limiter =>
            {
                limiter.PermitLimit = settings.ScoringConcurrency;
                limiter.QueueLimit = settings.QueueLimit;
                limiter.QueueProcessingOrder = QueueProcessingOrder.OldestFirst;
            });
            options.OnRejected = (rejected, _) =>
            {
                rejected.HttpContext.Response.Headers.RetryAfter = "1";
                return new ValueTask(Uploads.WriteProblemAsync(rejected.HttpContext, StatusCodes.Status503ServiceUnavailable, "Too many requests",
                    $"{settings.ScoringConcurrency} requests are being scored and {settings.QueueLimit} are waiting (Classifier:ScoringConcurrency, QueueLimit); retry later"));
            };
        });

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseRequestTimeouts();
        app.UseRateLimiter();
        app.MapOpenApi();

        app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        app.MapGet("/ready", (ModelHost host) => host.Pool is { } pool
            ? Results.Ok(new { status = "ready", labels = pool.ClassNames, model = pool.ModelPath })
            : host.NotReady());

        app.MapPost("/predict", async (HttpRequest request, ModelHost host, CancellationToken aborted) =>
        {
            if (host.Pool is not { } pool)
                return host.NotReady();
            var (image, refusal) = await Uploads.ReadImageAsync(request, settings, aborted);
            if (refusal is not null)
                return refusal;
            using (image)
            {
                try
                {
                    var prediction = pool.Predict(image!);
                    return Results.Ok(new PredictionResponse(prediction.Label, prediction.Score,
                        prediction.AllLabels().Select(p => new LabelScore(p.Key, p.Value)).ToList()));
                }
                catch (InvalidDataException e)
                {
                    return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Unusable image", detail: e.Message);
                }
                catch (ObjectDisposedException)
                {
                    return host.NotReady();
                }
            }
        })
        .Accepts<IFormFile>("multipart/form-data")
        .Produces<PredictionResponse>()
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
        .ProducesProblem(StatusCodes.Status504GatewayTimeout)
        .WithSummary("Classify an uploaded image (multipart form field 'image': JPEG, PNG, GIF, BMP or WebP)")
        .RequireRateLimiting(ServiceSettings.ScoringPolicy)
        .WithRequestTimeout(ServiceSettings.ScoringPolicy);

        app.Run();

        /// <summary>What POST /predict answers.</summary>
        /// <param name="Label">The predicted class.</param>
        /// <param name="Score">Its probability.</param>
        /// <param name="Top">Every class with its probability, the most likely first.</param>
        public sealed record PredictionResponse(string Label, float Score, IReadOnlyList<LabelScore> Top);

        /// <summary>One class and its probability.</summary>
        public sealed record LabelScore(string Label, float Score);

        """;

    private static string Settings(string name) => $$"""
        namespace {{name}};

        /// <summary>The service's limits: the "Classifier" section of appsettings.json (or environment variables such as Classifier__QueueLimit).</summary>
        public sealed class ServiceSettings
        {
            /// <summary>The name of the rate-limiting and timeout policies of POST /predict.</summary>
            public const string ScoringPolicy = "scoring";

            /// <summary>The model zip; a relative path is beside the application.</summary>
            public string ModelPath { get; set; } = "model.zip";

            /// <summary>The largest request body, in bytes; a larger one is answered 413 (default 20 MiB).</summary>
            public long MaxRequestBytes { get; set; } = 20 * 1024 * 1024;

            /// <summary>The most pixels an image may have; a larger one is answered 400 from its header, before a pixel is decoded.</summary>
            public long MaxImagePixels { get; set; } = {{name}}Model.DefaultMaxPixels;

            /// <summary>How many requests are scored at once (and the engines the pool keeps); 0: one per core.</summary>
            public int ScoringConcurrency { get; set; }

            /// <summary>How many more requests may wait for their turn; beyond that, 503 with Retry-After.</summary>
            public int QueueLimit { get; set; } = 64;

            /// <summary>The time a request may take from arrival, waiting included; then 504.</summary>
            public int RequestTimeoutSeconds { get; set; } = 30;

            /// <summary>Load a new version of the model zip when it is written (atomically: by rename) beside the app.</summary>
            public bool ReloadOnChange { get; set; } = true;

            /// <summary>The settings in <paramref name="configuration"/>, checked, with the model path made absolute and 0 resolved.</summary>
            /// <exception cref="InvalidOperationException">A setting is out of range; the message names it.</exception>
            public static ServiceSettings From(IConfiguration configuration)
            {
                var settings = new ServiceSettings();
                configuration.GetSection("Classifier").Bind(settings);
                if (settings.ScoringConcurrency == 0)
                    settings.ScoringConcurrency = Environment.ProcessorCount;
                settings.ModelPath = Path.GetFullPath(settings.ModelPath, AppContext.BaseDirectory);
                Check(settings.MaxRequestBytes > 0, nameof(MaxRequestBytes), settings.MaxRequestBytes);
                Check(settings.MaxImagePixels > 0, nameof(MaxImagePixels), settings.MaxImagePixels);
                Check(settings.ScoringConcurrency > 0, nameof(ScoringConcurrency), settings.ScoringConcurrency);
                Check(settings.QueueLimit >= 0, nameof(QueueLimit), settings.QueueLimit);
                Check(settings.RequestTimeoutSeconds > 0, nameof(RequestTimeoutSeconds), settings.RequestTimeoutSeconds);
                return settings;
            }

            private static void Check(bool ok, string setting, long value)
            {
                if (!ok)
                    throw new InvalidOperationException($"appsettings.json: Classifier:{setting} = {value} is out of range.");
            }
        }

        """;

    private static string ModelHost(string name) => $$"""
        using MLNetClassify.Serving;

        namespace {{name}};

        /// <summary>
        /// Owns the model: loads and warms it after the server starts (GET /ready answers 503 until then), and with
        /// ReloadOnChange swaps in a new version of the zip when it is written. Each request is answered wholly by the old
        /// or wholly by the new model (the pool's Reload); a version that cannot be loaded is logged and the current one stays.
        /// </summary>
        public sealed class ModelHost(ServiceSettings settings, ILogger<ModelHost> log) : IHostedService, IDisposable
        {
            private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(300);
            private readonly Lock _loading = new();
            private ImageClassifierPool? _pool;
            private FileSystemWatcher? _watcher;
            private Timer? _settle;

            /// <summary>The scorer, once the model is loaded and warmed; null before.</summary>
            public ImageClassifierPool? Pool => Volatile.Read(ref _pool);

            /// <summary>Why the model is not loaded, when loading it failed.</summary>
            public string? LoadError { get; private set; }

            /// <summary>503 with Retry-After, saying why.</summary>
            public IResult NotReady() => Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Model not ready",
                detail: LoadError is null ? "the model is still loading; retry shortly" : $"the model could not be loaded: {LoadError}",
                extensions: new Dictionary<string, object?> { ["retryAfterSeconds"] = 1 });

            public Task StartAsync(CancellationToken cancellationToken)
            {
                if (settings.ReloadOnChange)
                {
                    // Watch the folder, not the file: an atomic update renames another file onto it.
                    _settle = new Timer(_ => Load());
                    _watcher = new FileSystemWatcher(Path.GetDirectoryName(settings.ModelPath)!)
                    {
                        NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
                    };
                    FileSystemEventHandler changed = (_, e) => { if (IsModel(e.FullPath)) _settle.Change(Settle, Timeout.InfiniteTimeSpan); };
                    _watcher.Changed += changed;
                    _watcher.Created += changed;
                    _watcher.Renamed += (sender, e) => changed(sender, e);
                    _watcher.EnableRaisingEvents = true;
                }
                _ = Task.Run(Load, CancellationToken.None); // the server answers /health at once, /ready once this is done
                return Task.CompletedTask;
            }

            public Task StopAsync(CancellationToken cancellationToken)
            {
                _watcher?.Dispose();
                _settle?.Dispose();
                return Task.CompletedTask;
            }

            /// <summary>Releases the model's ONNX sessions once the requests running now have finished.</summary>
            public void Dispose()
            {
                _watcher?.Dispose();
                _settle?.Dispose();
                Interlocked.Exchange(ref _pool, null)?.Dispose();
            }

            private bool IsModel(string path) => string.Equals(Path.GetFullPath(path), settings.ModelPath, StringComparison.Ordinal);

            /// <summary>Loads the first version, or reloads a new one into the running pool.</summary>
            private void Load()
            {
                lock (_loading)
                {
                    try
                    {
                        if (Pool is { } pool)
                        {
                            pool.Reload();
                            pool.WarmUp();
                            log.LogInformation("Reloaded {Model}: {Classes}", settings.ModelPath, string.Join(", ", pool.ClassNames));
                            return;
                        }
                        var fresh = {{name}}Model.CreatePool(settings.ModelPath, settings.ScoringConcurrency, settings.MaxImagePixels);
                        fresh.WarmUp();
                        Volatile.Write(ref _pool, fresh);
                        LoadError = null;
                        log.LogInformation("Loaded {Model}: {Classes}", settings.ModelPath, string.Join(", ", fresh.ClassNames));
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        if (Pool is null)
                            LoadError = e.Message;
                        log.LogError("Cannot load {Model} ({Problem}); {Kept}", settings.ModelPath, e.Message,
                            Pool is null ? "not ready" : "the current model stays");
                    }
                }
            }
        }

        """;

    private static string Uploads(string name) => $$"""
        using Microsoft.AspNetCore.WebUtilities;
        using Microsoft.Net.Http.Headers;

        namespace {{name}};

        /// <summary>Reading an upload from the request stream into memory (never a temporary file), within the body limit.</summary>
        public static class Uploads
        {
            /// <summary>The form field that holds the image.</summary>
            public const string Field = "image";

            /// <summary>The image bytes of the multipart field <see cref="Field"/>, or the problem response that refuses the request.</summary>
            public static async Task<(MemoryStream? Image, IResult? Refusal)> ReadImageAsync(HttpRequest request, ServiceSettings settings, CancellationToken aborted)
            {
                if (request.ContentLength > settings.MaxRequestBytes)
                    return (null, TooLarge(settings));
                if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var type) || !type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
                    || HeaderUtilities.RemoveQuotes(type.Boundary).Value is not { Length: > 0 } boundary)
                    return (null, BadRequest($"send a multipart form (multipart/form-data) with the image in a field named '{Field}'"));
                try
                {
                    var reader = new MultipartReader(boundary, request.Body);
                    while (await reader.ReadNextSectionAsync(aborted) is { } section)
                    {
                        if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.IsFileDisposition()
                            || disposition.Name.Value != Field)
                            continue;
                        var image = new MemoryStream();
                        await section.Body.CopyToAsync(image, aborted);
                        if (image.Length == 0)
                        {
                            await image.DisposeAsync();
                            return (null, BadRequest($"the file in the field '{Field}' is empty (0 bytes)"));
                        }
                        image.Position = 0;
                        return (image, null);
                    }
                    return (null, BadRequest($"the form has no file in a field named '{Field}'"));
                }
                catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
                {
                    return (null, TooLarge(settings));
                }
                catch (Exception e) when (e is InvalidDataException or BadHttpRequestException)
                {
                    return (null, BadRequest($"the multipart form cannot be read: {e.Message}"));
                }
            }

            /// <summary>Writes a problem-details response from middleware (timeouts, the rate limiter).</summary>
            public static Task WriteProblemAsync(HttpContext context, int status, string title, string detail)
            {
                context.Response.StatusCode = status;
                return context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context,
                    ProblemDetails = { Status = status, Title = title, Detail = detail },
                }).AsTask();
            }

            private static IResult TooLarge(ServiceSettings settings) => Results.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Upload too large",
                detail: $"the request is larger than {settings.MaxRequestBytes} bytes (Classifier:MaxRequestBytes)");

            private static IResult BadRequest(string detail) => Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad upload", detail: detail);
        }

        """;
}
