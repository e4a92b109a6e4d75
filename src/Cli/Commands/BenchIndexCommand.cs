using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Media;
using TempMe.Pipeline.Indexing;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>
/// <c>tempme bench-index</c>: how much the pipeline adds over its stages. Measures decode alone and encode alone per
/// video, then the whole <c>index</c> run over the same videos, and prints end-to-end rate against 1 / (decode + encode).
/// </summary>
internal static class BenchIndexCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var videos = new Option<int>("--videos") { Description = "Generated videos (10 s, 320x240, h264).", DefaultValueFactory = _ => 24 };
        var model = new Option<string>("--model") { Description = "Model to encode with.", DefaultValueFactory = _ => "random:vit-b32" };
        var batch = new Option<int>("--batch") { Description = "Videos per encoder batch.", DefaultValueFactory = _ => 4 };
        var decoders = new Option<int>("--decoders") { Description = "Concurrent decoders in the end-to-end run.", DefaultValueFactory = _ => 2 };
        var work = new Option<string?>("--dir") { Description = "Working folder (kept); a temporary one by default." };
        var command = new Command("bench-index", "Benchmark: end-to-end index rate against decode and encode measured separately.") { videos, model, batch, decoders, work };
        CommandAction.Set(command, async (parse, cancellationToken) =>
        {
            var count = parse.GetValue(videos);
            if (count < 2)
            {
                throw new UsageException("--videos must be at least 2.");
            }

            var folder = parse.GetValue(work) ?? Directory.CreateTempSubdirectory("tempme-bench-index-").FullName;
            var source = Path.Combine(folder, "videos");
            Directory.CreateDirectory(source);
            for (var i = 0; i < count; i++)
            {
                var path = Path.Combine(source, string.Create(CultureInfo.InvariantCulture, $"clip-{i:D4}.mp4"));
                if (!File.Exists(path))
                {
                    await MakeClipAsync(path, i, cancellationToken);
                }
            }

            var sampling = SamplingSettings.Default;
            var encoder = EncoderFactory.Create(parse.GetValue(model)!, sampling.Frames, Console.Error);
            var sampler = new FfmpegFrameSampler();
            var files = Directory.GetFiles(source).Order(StringComparer.Ordinal).ToList();

            // Decode alone, one video at a time.
            var frames = new List<float[]>();
            var clock = Stopwatch.StartNew();
            foreach (var file in files)
            {
                var sample = await sampler.SampleAsync(file, sampling, cancellationToken);
                if (!sample.Succeeded)
                {
                    throw new InvalidOperationException($"benchmark video {file} failed: {sample.ErrorCode} {sample.Message}");
                }

                if (frames.Count < parse.GetValue(batch))
                {
                    frames.Add(sample.Frames!);
                }
            }

            var decodePerVideo = clock.Elapsed.TotalSeconds / files.Count;

            // Encode alone, in batches of the same size, after one warm-up batch.
            var batchSize = frames.Count;
            var input = new float[batchSize * sampling.FloatsPerVideo];
            for (var i = 0; i < batchSize; i++)
            {
                frames[i].CopyTo(input, i * sampling.FloatsPerVideo);
            }

            var output = new float[batchSize * encoder.EmbeddingSize];
            encoder.EncodeVideos(input, batchSize, output);
            var rounds = Math.Max(1, files.Count / batchSize);
            clock.Restart();
            for (var r = 0; r < rounds; r++)
            {
                encoder.EncodeVideos(input, batchSize, output);
            }

            var encodePerVideo = clock.Elapsed.TotalSeconds / (rounds * batchSize);

            // The whole pipeline.
            var dest = Path.Combine(folder, $"index-{Environment.ProcessId}");
            var request = new LocalIndexRequest(source, dest, parse.GetValue(model)!, sampling, 64,
                new ShardPipelineOptions { BatchSize = parse.GetValue(batch), Decoders = parse.GetValue(decoders) });
            clock.Restart();
            var summary = await LocalIndexer.RunAsync(request, encoder, sampler, new LocalFolderStore(dest), null, cancellationToken);
            var endToEnd = summary.Counters.Done / clock.Elapsed.TotalSeconds;
            Directory.Delete(dest, recursive: true);

            var bound = 1.0 / (decodePerVideo + encodePerVideo);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"videos {files.Count}, decode alone {decodePerVideo:0.000} s/video, encode alone {encodePerVideo:0.000} s/video (batch {batchSize})"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"end-to-end {endToEnd:0.000} videos/s vs 1/(decode+encode) = {bound:0.000} videos/s: {100 * endToEnd / bound:0.0}%"));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task MakeClipAsync(string path, int index, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
        {
            "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=duration=10:size=320x240:rate=25",
            "-vf", string.Create(CultureInfo.InvariantCulture, $"hue=h={index * 37 % 360}"), "-c:v", "libx264", "-pix_fmt", "yuv420p", path,
        })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("ffmpeg could not be started; install the ffmpeg package.");
        var error = await process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg failed to make {path}: {error}");
        }
    }
}
