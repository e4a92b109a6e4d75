using System.CommandLine;
using System.Diagnostics;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Media;
using TempMe.Pipeline.Media.Internal;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>
/// The <c>tempme bench-decode</c> command: makes (or reuses) benchmark videos with ffmpeg's lavfi sources and prints the
/// seconds taken to sample each, for the automatic choice and, on the 30 s 720p and 10 min 1080p files, for both
/// frame-picking strategies (select and seek).
/// </summary>
internal static class BenchDecodeCommand
{
    private sealed record Case(string Name, string File, string Source, string Codec, bool BothStrategies);

    private static readonly Case[] Cases =
    [
        new("5s-320x240-h264", "short_5s_320x240.mp4", "testsrc2=size=320x240:rate=25:duration=5", "-c:v libx264 -preset ultrafast -crf 28 -pix_fmt yuv420p", false),
        new("30s-720p-h264", "bench_30s_720p.mp4", "testsrc2=size=1280x720:rate=30000/1001:duration=30", "-c:v libx264 -preset ultrafast -crf 28 -pix_fmt yuv420p", true),
        new("90s-640x360-vp9", "mid_90s_640x360.webm", "testsrc2=size=640x360:rate=25:duration=90", "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -pix_fmt yuv420p", false),
        new("10min-1080p-h264", "bench_10min_1080p.mp4", "testsrc2=size=1920x1080:rate=25:duration=600", "-c:v libx264 -preset ultrafast -crf 28 -pix_fmt yuv420p", true),
    ];

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var dir = new Option<string?>("--dir") { Description = "Folder holding (or receiving) the benchmark videos; default a tempme-bench folder in the temp folder." };
        var runs = new Option<int>("--runs") { Description = "Timed runs per case (the median and the best are printed).", DefaultValueFactory = _ => 3 };
        var frames = new Option<int>("--frames") { Description = "Frames per video, T.", DefaultValueFactory = _ => 12 };
        var command = new Command("bench-decode", "Time ffmpeg frame sampling on generated videos (select vs seek strategies).");
        command.Options.Add(dir);
        command.Options.Add(runs);
        command.Options.Add(frames);

        CommandAction.Set(command, async (parseResult, cancellationToken) =>
        {
            var folder = parseResult.GetValue(dir) ?? Path.Combine(Path.GetTempPath(), "tempme-bench");
            var runCount = parseResult.GetValue(runs);
            var frameCount = parseResult.GetValue(frames);
            if (runCount <= 0)
            {
                throw new UsageException($"--runs must be positive (got {runCount}).");
            }

            EncoderOptionsParsing.Frames(frameCount);

            Directory.CreateDirectory(folder);
            var settings = SamplingSettings.Default with { Frames = frameCount };
            var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { PerVideoTimeout = TimeSpan.FromMinutes(10) });
            Console.Out.WriteLine(FormattableString.Invariant($"bench-decode: T={frameCount}, runs={runCount}, folder {folder}, seek switch at {FfmpegFrameSampler.DefaultSeekMinDurationSeconds} s"));
            Console.Out.WriteLine("case                 strategy  median_s  best_s   frames  status");
            foreach (var item in Cases)
            {
                var path = Path.Combine(folder, item.File);
                if (!File.Exists(path))
                {
                    Console.Out.WriteLine($"generating {item.File} ...");
                    await GenerateAsync(path, item, cancellationToken);
                }

                DecodeStrategy[] strategies = item.BothStrategies ? [DecodeStrategy.Auto, DecodeStrategy.Select, DecodeStrategy.Seek] : [DecodeStrategy.Auto];
                foreach (var strategy in strategies)
                {
                    var times = new List<double>();
                    FrameSample? last = null;
                    for (var run = 0; run < runCount; run++)
                    {
                        var clock = Stopwatch.StartNew();
                        last = await sampler.SampleAsync(path, settings, strategy, cancellationToken);
                        times.Add(clock.Elapsed.TotalSeconds);
                    }

                    times.Sort();
                    var status = last!.Succeeded ? "ok" : $"failed {last.ErrorCode}: {last.Message}";
                    Console.Out.WriteLine(FormattableString.Invariant(
                        $"{item.Name,-20} {strategy.ToString().ToLowerInvariant(),-9} {times[times.Count / 2],8:0.000}  {times[0],7:0.000}  {last.FrameIndices.Count,6}  {status}"));
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task GenerateAsync(string path, Case item, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("ffmpeg") { UseShellExecute = false, RedirectStandardError = true };
        string[] head = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", item.Source];
        foreach (var argument in head.Concat(item.Codec.Split(' ')).Append(path + ".part" + Path.GetExtension(path)))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg did not start.");
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        if (process.ExitCode != 0)
        {
            var message = await errors;
            throw new UsageException($"ffmpeg could not make {item.File}: {message}");
        }

        File.Move(path + ".part" + Path.GetExtension(path), path, overwrite: true);
    }
}
