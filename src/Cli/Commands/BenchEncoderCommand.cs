using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Encoder.Internal;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme bench-encoder</c> command: encoder throughput with random weights of real CLIP sizes.</summary>
internal static class BenchEncoderCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "Model size: vit-b32 or vit-b16.", DefaultValueFactory = _ => "vit-b32" };
        var noMerge = new Option<bool>("--no-merge") { Description = "Plain CLIP (no token merging) baseline." };
        var videos = new Option<int>("--videos") { Description = "Videos to encode in the timed run.", DefaultValueFactory = _ => 8 };
        var batch = new Option<int>("--batch") { Description = "Videos per EncodeVideos call.", DefaultValueFactory = _ => 4 };
        var frames = new Option<int>("--frames") { Description = "Frames per video.", DefaultValueFactory = _ => 12 };
        var command = new Command("bench-encoder", "Measure TempMe encoder throughput with random weights of real sizes.");
        foreach (var o in new Option[] { preset, noMerge, videos, batch, frames })
        {
            command.Options.Add(o);
        }

        CommandAction.Set(command, (parse, ct) =>
        {
            var name = parse.GetValue(preset)!;
            var (n, b, t) = (parse.GetValue(videos), parse.GetValue(batch), parse.GetValue(frames));
            if (n < 1 || b < 1)
            {
                throw new UsageException("--videos and --batch must be positive.");
            }

            EncoderOptionsParsing.Frames(t);
            EncoderOptionsParsing.FramesFitOneBatch(b, SamplingSettings.Default with { Frames = t });

            var options = new EncoderOptions { Schedule = parse.GetValue(noMerge) ? TempMeSchedule.NoMerge : TempMeSchedule.Default };
            var sw = Stopwatch.StartNew();
            var encoder = EncoderOptionsParsing.Load(() => EncoderFactory.Create(EncoderFactory.RandomPrefix + name, t, options, Console.Out));
            var load = sw.Elapsed.TotalSeconds;
            var s = encoder.ImageSize;
            var perVideo = (SamplingSettings.Default with { Frames = t, ImageSize = s }).FloatsPerVideo;
            var input = new float[checked(b * perVideo)];
            var rng = new Random(7);
            for (var i = 0; i < input.Length; i++)
            {
                input[i] = (float)((rng.NextDouble() * 4) - 2);
            }

            var emb = new float[b * encoder.EmbeddingSize];
            encoder.EncodeVideos(input, b, emb); // warm-up
            ct.ThrowIfCancellationRequested();
            sw.Restart();
            var done = 0;
            while (done < n)
            {
                ct.ThrowIfCancellationRequested();
                var k = Math.Min(b, n - done);
                encoder.EncodeVideos(input.AsSpan(0, k * perVideo), k, emb);
                done += k;
            }

            var secs = sw.Elapsed.TotalSeconds;
            var gflop = encoder.Vision.FlopsPerVideo() * n / 1e9;
            using var proc = Process.GetCurrentProcess();
            proc.Refresh();
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(inv, $"preset {name}, {(parse.GetValue(noMerge) ? "no-merge (CLIP meanP)" : "TempMe")}, {t} frames, tokens per clip {string.Join(",", encoder.TokensPerClip)}"));
            Console.WriteLine(string.Create(inv, $"backend: {NativeBlas.Description}"));
            Console.WriteLine(string.Create(inv, $"weights ready in {load:F2} s; {n} videos in batches of {b}: {secs:F2} s"));
            Console.WriteLine(string.Create(inv, $"throughput: {n / secs:F3} videos/s, {gflop / secs:F1} GFLOP/s ({gflop / n:F1} GFLOP per video)"));
            Console.WriteLine(string.Create(inv, $"peak working set: {proc.PeakWorkingSet64 / (1024.0 * 1024.0):F0} MiB"));
            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }
}
