using System.CommandLine;
using System.Text;
using System.Text.Json;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder.Internal;
using TempMe.Pipeline.Media;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>
/// The <c>tempme frames VIDEO</c> command: samples one video the TempMe way and prints one JSON object describing the
/// result; with <c>--output</c> it also writes the <c>frames</c> tensor <c>[T,3,S,S]</c> (F32) as safetensors.
/// Exit 0 when the video gave frames, 3 when it failed, 2 for bad arguments.
/// </summary>
internal static class FramesCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var video = new Argument<string>("video") { Description = "The video file to sample." };
        var frames = new Option<int>("--frames") { Description = "Frames per video, T.", DefaultValueFactory = _ => 12 };
        var output = new Option<string?>("--output") { Description = "Write the frames tensor [T,3,224,224] (F32) to this .safetensors file." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON (the only output format; accepted for scripts)." };
        var timeout = new Option<double>("--timeout-seconds") { Description = "Per-video limit for probing and decoding.", DefaultValueFactory = _ => 120 };

        var command = new Command("frames", "Sample TempMe frames from one video with ffmpeg and print what was found as JSON.");
        command.Arguments.Add(video);
        command.Options.Add(frames);
        command.Options.Add(output);
        command.Options.Add(json);
        command.Options.Add(timeout);

        CommandAction.Set(command, async (parseResult, cancellationToken) =>
        {
            var path = parseResult.GetValue(video) ?? "";
            var frameCount = parseResult.GetValue(frames);
            var outputPath = parseResult.GetValue(output);
            var timeoutSeconds = parseResult.GetValue(timeout);
            if (string.IsNullOrWhiteSpace(path))
            {
                throw new UsageException("VIDEO is empty: give the path of a video file.");
            }

            EncoderOptionsParsing.Frames(frameCount);

            if (!(timeoutSeconds > 0) || double.IsInfinity(timeoutSeconds))
            {
                throw new UsageException($"--timeout-seconds must be a positive number of seconds (got {timeoutSeconds}).");
            }

            if (outputPath is not null && string.IsNullOrWhiteSpace(outputPath))
            {
                throw new UsageException("--output is empty: give a file path such as frames.safetensors.");
            }

            var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { PerVideoTimeout = TimeSpan.FromSeconds(timeoutSeconds) });
            var settings = SamplingSettings.Default with { Frames = frameCount };
            var sample = await sampler.SampleAsync(path, settings, cancellationToken);

            if (sample.Succeeded && outputPath is not null)
            {
                try
                {
                    await SafeTensorsWriter.WriteAsync(
                        outputPath,
                        [SafeTensorsWriter.Tensor.F32("frames", [frameCount, 3, settings.ImageSize, settings.ImageSize], sample.Frames!)],
                        cancellationToken);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    await Console.Error.WriteLineAsync($"error: could not write {outputPath}: {e.Message}");
                    Console.Out.WriteLine(ToJson(sample));
                    return ExitCodes.Failure;
                }
            }

            Console.Out.WriteLine(ToJson(sample));
            return sample.Succeeded ? ExitCodes.Ok : ExitCodes.VideoFailed;
        });
        return command;
    }

    /// <summary>The one-object JSON form of a sample (snake_case names; no frame data).</summary>
    internal static string ToJson(FrameSample sample)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            var probe = sample.Probe;
            writer.WriteStartObject();
            writer.WriteString("source", sample.Source);
            writer.WriteString("status", sample.Succeeded ? "ok" : "failed");
            WriteStringOrNull(writer, "error_code", sample.ErrorCode);
            WriteStringOrNull(writer, "message", sample.Message);
            WriteNumberOrNull(writer, "duration_s", probe.DurationSeconds);
            WriteNumberOrNull(writer, "fps", probe.FramesPerSecond);
            writer.WriteStartArray("frame_indices");
            foreach (var index in sample.FrameIndices)
            {
                writer.WriteNumberValue(index);
            }

            writer.WriteEndArray();
            writer.WriteStartArray("timestamps_s");
            foreach (var time in sample.TimestampsSeconds)
            {
                writer.WriteNumberValue(Math.Round(time, 6));
            }

            writer.WriteEndArray();
            WriteNumberOrNull(writer, "width", probe.Width);
            WriteNumberOrNull(writer, "height", probe.Height);
            writer.WriteNumber("rotation", probe.Rotation);
            WriteNumberOrNull(writer, "frame_count", probe.FrameCount);
            WriteStringOrNull(writer, "frame_count_source", probe.FrameCountSource);
            writer.WriteStartArray("warnings");
            foreach (var warning in sample.Warnings)
            {
                writer.WriteStringValue(warning);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void WriteStringOrNull(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }

    private static void WriteNumberOrNull(Utf8JsonWriter writer, string name, double? value)
    {
        if (value is { } number && double.IsFinite(number))
        {
            writer.WriteNumber(name, number);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static void WriteNumberOrNull(Utf8JsonWriter writer, string name, long? value)
    {
        if (value is { } number)
        {
            writer.WriteNumber(name, number);
        }
        else
        {
            writer.WriteNull(name);
        }
    }
}
