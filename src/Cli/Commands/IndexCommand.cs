using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Media;
using TempMe.Pipeline.Indexing;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Dashboard;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary><c>tempme index SOURCE --out DEST</c>: the single-machine main job (SQLite ledger, local output folder).</summary>
internal static class IndexCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "A folder of videos (searched recursively) or a text file listing one video path per line." };
        var output = new Option<string>("--out") { Description = "Output folder for the index (created if missing). Running again continues where the last run stopped.", Required = true };
        var model = new Option<string?>("--model") { Description = "A model folder (checkpoint + vocabulary), a .safetensors, .pt, .pth or .bin checkpoint, or random:vit-b32 / random:vit-b16 (meaningless embeddings, for trying the pipeline)." };
        var frames = new Option<int>("--frames") { Description = "Frames sampled per video.", DefaultValueFactory = _ => 12 };
        var batch = new Option<int>("--batch") { Description = "Videos per encoder batch.", DefaultValueFactory = _ => 4 };
        var decoders = new Option<int>("--decoders") { Description = "Concurrent ffmpeg decoders.", DefaultValueFactory = _ => 2 };
        var shardSize = new Option<int>("--shard-size") { Description = "Videos per output part file.", DefaultValueFactory = _ => 64 };
        var maxAttempts = new Option<int>("--max-attempts") { Description = "Attempts before a retryable failure (e.g. timeout) is final.", DefaultValueFactory = _ => 3 };
        var timeout = new Option<int>("--timeout-seconds") { Description = "Decode time limit per video.", DefaultValueFactory = _ => 120 };
        var failOnError = new Option<bool>("--fail-on-error") { Description = "Exit 1 when any video failed (failed videos are always listed in failures.jsonl)." };
        var progressInterval = new Option<double>("--progress-seconds") { Description = "Seconds between plain progress lines when output is not a terminal.", DefaultValueFactory = _ => 5 };
        var dashboard = new Option<string?>("--dashboard") { Description = "Serve a live web dashboard of this run (and /metrics, /healthz) on HOST:PORT, e.g. 127.0.0.1:8090." };

        var command = new Command("index", "Index a folder of videos into TempMe embeddings on this machine, resumably.")
        {
            source, output, model, frames, batch, decoders, shardSize, maxAttempts, timeout, failOnError, progressInterval, dashboard,
        };

        CommandAction.Set(command, async (parse, cancellationToken) =>
        {
            var request = Validate(
                parse.GetValue(source)!, parse.GetValue(output)!, parse.GetValue(model), parse.GetValue(frames), parse.GetValue(batch),
                parse.GetValue(decoders), parse.GetValue(shardSize), parse.GetValue(maxAttempts), parse.GetValue(timeout));

            var encoder = OpenEncoder(request);
            await EnsureSameJobAsync(request, encoder, cancellationToken);
            EnsureWritable(request.OutputFolder);
            var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { PerVideoTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)) });
            var display = new IndexProgress(parse.GetValue(progressInterval));
            await using var web = await StartDashboardAsync(parse.GetValue(dashboard), request, cancellationToken);
            var summary = await RunAsync(request, encoder, sampler, display, web, cancellationToken);
            PrintSummary(summary, request.OutputFolder, request.ModelSpec);
            return parse.GetValue(failOnError) && summary.Final.Failed > 0 ? ExitCodes.Failure : ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The model of <c>--model</c>, its notices (a vocabulary not found, say) printed as notes.</summary>
    private static IVideoEncoder OpenEncoder(LocalIndexRequest request)
    {
        var notices = new StringWriter();
        IVideoEncoder encoder;
        try
        {
            encoder = EncoderFactory.Create(request.ModelSpec, request.Sampling.Frames, notices);
        }
        catch (ModelLoadException e)
        {
            throw new UsageException($"invalid --model: {e.Message}");
        }

        foreach (var line in notices.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            Console.Error.WriteLine($"note: {line}");
        }

        return encoder;
    }

    /// <summary>Refuses to continue an index made with another model or sampling (it would mix embeddings).</summary>
    private static async Task EnsureSameJobAsync(LocalIndexRequest request, IVideoEncoder encoder, CancellationToken cancellationToken)
    {
        var existing = await StorageStepAsync(() => LocalIndexer.ReadExistingJobAsync(request.OutputFolder, cancellationToken));
        if (existing is null)
        {
            return;
        }

        var requested = new JobRecord(request.ModelSpec, encoder.Fingerprint, request.Sampling.Key, encoder.EmbeddingSize, request.ShardSize);
        if (existing.ModelFingerprint != requested.ModelFingerprint || existing.SamplingKey != requested.SamplingKey)
        {
            throw new UsageException(new JobMismatchException(existing, requested).Message);
        }
    }

    /// <summary>Runs the index with its progress display and dashboard; what can go wrong becomes a usage error or exit 1.</summary>
    private static async Task<LocalIndexSummary> RunAsync(
        LocalIndexRequest request, IVideoEncoder encoder, FfmpegFrameSampler sampler, IndexProgress display, IndexDashboard? web, CancellationToken cancellationToken)
    {
        var store = new LocalFolderStore(request.OutputFolder);
        LocalIndexSummary summary;
        try
        {
            summary = await display.RunAsync(onStarted => LocalIndexer.RunAsync(request, encoder, sampler, store, (counters, before) =>
            {
                onStarted(counters, before);
                web?.Attach(counters, before);
            }, cancellationToken));
        }
        catch (JobMismatchException e)
        {
            throw new UsageException(e.Message);
        }
        catch (OutputFolderBusyException e)
        {
            throw new UsageException(e.Message);
        }
        catch (IndexStorageException e)
        {
            throw new RunFailedException(e.Message);
        }
        catch (OperationCanceledException)
        {
            web?.Finish(cancelled: true);
            throw;
        }

        web?.Finish(cancelled: false);
        return summary;
    }

    /// <summary>Runs a step that reads or writes the output folder, turning a storage failure into exit 1 with its message.</summary>
    private static async Task<T> StorageStepAsync<T>(Func<Task<T>> step)
    {
        try
        {
            return await step();
        }
        catch (IndexStorageException e)
        {
            throw new RunFailedException(e.Message);
        }
    }

    /// <summary>Starts the <c>--dashboard</c> listener, or returns null when the option is absent.</summary>
    private static async Task<IndexDashboard?> StartDashboardAsync(string? endpoint, LocalIndexRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return null;
        }

        var url = endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Port <= 0)
        {
            throw new UsageException($"--dashboard {endpoint} is not HOST:PORT (e.g. 127.0.0.1:8090).");
        }

        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
        try
        {
            return await IndexDashboard.StartAsync(endpoint, new IndexDashboardInfo(request.Source, request.OutputFolder, request.ModelSpec, LocalIndexer.LedgerPath(request.OutputFolder)),
                loggers.CreateLogger("TempMe.Pipeline.Dashboard"), cancellationToken);
        }
        catch (IOException e)
        {
            throw new UsageException($"--dashboard: cannot listen on {endpoint} ({e.Message}); choose a free port.");
        }
    }

    private static LocalIndexRequest Validate(string source, string output, string? model, int frames, int batch, int decoders, int shardSize, int maxAttempts, int timeoutSeconds)
    {
        if (!Directory.Exists(source) && !File.Exists(source))
        {
            throw new UsageException($"SOURCE {source} does not exist: give a folder of videos or a text file listing video paths.");
        }

        if (string.IsNullOrWhiteSpace(model))
        {
            throw new UsageException("--model is required: give a model folder (checkpoint and vocabulary), a .safetensors/.pt/.bin checkpoint, or random:vit-b32 to try the pipeline.");
        }

        EncoderOptionsParsing.Frames(frames);
        Positive(batch, "--batch");
        Positive(decoders, "--decoders");
        Positive(shardSize, "--shard-size");
        Positive(maxAttempts, "--max-attempts");
        Positive(timeoutSeconds, "--timeout-seconds");
        var outputFolder = Path.GetFullPath(output);
        if (File.Exists(outputFolder))
        {
            throw new UsageException($"--out {output} is a file: give a folder for the index.");
        }

        var sampling = SamplingSettings.Default with { Frames = frames };
        EncoderOptionsParsing.FramesFitOneBatch(batch, sampling);
        return new LocalIndexRequest(
            Path.GetFullPath(source),
            outputFolder,
            model,
            sampling,
            shardSize,
            new ShardPipelineOptions { Decoders = decoders, BatchSize = batch, MaxAttempts = maxAttempts });
    }

    private static void Positive(int value, string name)
    {
        if (value <= 0)
        {
            throw new UsageException($"{name} must be a positive number, got {value}.");
        }
    }

    /// <summary>Creates the output folder and proves it is writable before any work starts.</summary>
    private static void EnsureWritable(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".tempme-write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--out {folder} is not writable ({e.Message}): choose a folder you can write to.");
        }
    }

    private static void PrintSummary(LocalIndexSummary summary, string output, string modelSpec)
    {
        var c = summary.Counters;
        var seconds = Math.Max(summary.Elapsed.TotalSeconds, 1e-9);
        var computed = c.Done - c.Reused;
        var writer = Console.Out;
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"indexed {c.Done} videos this run ({computed} encoded, {c.Reused} reused by content hash), skipped {summary.SkippedAlreadyDone} already done, failed {summary.Final.Failed} in total"));
        foreach (var (code, count) in summary.FailuresByCode.OrderByDescending(kv => kv.Value))
        {
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  failed {code}: {count}"));
        }

        writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wall {seconds:0.00} s, {(c.Done + c.Failed) / seconds:0.000} videos/s, decode {c.DecodeSeconds:0.00} s, encode {c.EncodeSeconds:0.00} s"));
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"index: {Path.Combine(output, "index.json")} ({summary.Final.Done} of {summary.Final.Total} videos embedded)"));
        if (c.ThumbnailFailures > 0)
        {
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"warning: {c.ThumbnailFailures} thumbnail(s) could not be made or written; those videos are indexed and show no thumbnail in search results."));
        }

        if (modelSpec.StartsWith("random:", StringComparison.Ordinal))
        {
            writer.WriteLine("warning: the model has random weights, so these embeddings are meaningless; use --model with a real checkpoint for search.");
        }
    }
}
