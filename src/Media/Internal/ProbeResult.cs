using System.Globalization;
using System.Text.Json;
using FFMpegCore;
using FFMpegCore.Exceptions;

namespace TempMe.Pipeline.Media.Internal;

/// <summary>The facts read from <c>ffprobe -print_format json -show_streams -show_format</c>.</summary>
internal sealed record ProbeResult
{
    /// <summary>Absolute stream index of the chosen video stream (first video stream that is not cover art).</summary>
    public int? VideoStreamIndex { get; init; }

    /// <summary>Number of streams of any kind.</summary>
    public int StreamCount { get; init; }

    /// <summary>ffprobe's codec name; null when it could not identify one.</summary>
    public string? Codec { get; init; }

    /// <summary>Coded width.</summary>
    public int Width { get; init; }

    /// <summary>Coded height.</summary>
    public int Height { get; init; }

    /// <summary>Sample aspect ratio (pixel width / pixel height), 1 when absent or unknown.</summary>
    public double SampleAspectRatio { get; init; } = 1;

    /// <summary>avg_frame_rate, when positive.</summary>
    public double? AverageFrameRate { get; init; }

    /// <summary>r_frame_rate, when positive.</summary>
    public double? RealFrameRate { get; init; }

    /// <summary>nb_frames, when the container states it.</summary>
    public long? ContainerFrameCount { get; init; }

    /// <summary>Stream duration, else container duration.</summary>
    public double? DurationSeconds { get; init; }

    /// <summary>Display rotation, counter-clockwise degrees as ffprobe's display matrix reports it, in 0/90/180/270.</summary>
    public int Rotation { get; init; }

    /// <summary>
    /// Parses ffprobe's JSON with FFMpegCore's model of it (<see cref="FFProbe.FromJson"/>). Throws
    /// <see cref="JsonException"/> on text that is not ffprobe's JSON, that lacks the <c>format</c> section, or whose
    /// fields FFMpegCore cannot read.
    /// </summary>
    /// <remarks>
    /// The facts come from FFMpegCore's raw model (<see cref="IMediaAnalysis.Raw"/>), not from its derived
    /// <see cref="VideoStream"/>, whose values differ from what the sampler needs: its durations are read only in
    /// ffprobe's <c>-sexagesimal</c> form and to the millisecond, its rotation truncates the angle and takes the old
    /// <c>rotate</c> tag (clockwise) without flipping it to the display matrix's sense, and a <c>0/0</c> frame rate comes out as NaN.
    /// </remarks>
    public static ProbeResult Parse(string json)
    {
        var analysis = ReadAnalysis(json).Raw;
        var formatDuration = ParseDouble(analysis.Format.Duration);
        var streams = analysis.Streams;
        foreach (var stream in streams)
        {
            if (stream.CodecType != "video" || IsAttachedPicture(stream))
            {
                continue;
            }

            var codec = stream.CodecName;
            return new ProbeResult
            {
                VideoStreamIndex = stream.Index,
                StreamCount = streams.Count,
                Codec = string.IsNullOrEmpty(codec) || codec == "none" ? null : codec,
                Width = stream.Width ?? 0,
                Height = stream.Height ?? 0,
                SampleAspectRatio = ParseRatio(stream.SampleAspectRatio) ?? 1,
                AverageFrameRate = ParseRatio(stream.AvgFrameRate),
                RealFrameRate = ParseRatio(stream.FrameRate),
                ContainerFrameCount = ParseLong(stream.ExtensionData, "nb_frames") is > 0 and var n ? n : null,
                DurationSeconds = ParseDouble(stream.Duration) is > 0 and var d ? d : formatDuration,
                Rotation = ReadRotation(stream),
            };
        }

        return new ProbeResult { StreamCount = streams.Count, DurationSeconds = formatDuration };
    }

    /// <summary>FFMpegCore's analysis of <paramref name="json"/>; every way it can refuse the text becomes a <see cref="JsonException"/>.</summary>
    private static IMediaAnalysis ReadAnalysis(string json)
    {
        try
        {
            return FFProbe.FromJson(json);
        }
        catch (FormatNullException e)
        {
            throw new JsonException("ffprobe's output has no format section.", e);
        }
        catch (Exception e) when (e is FormatException or OverflowException or IndexOutOfRangeException or ArgumentException)
        {
            // FFMpegCore parses numbers and ratios of every stream as it reads them (int.Parse of "N/A" and the like).
            // Not InvalidOperationException: STJ throws that when reflection-based serialisation is off (a trimmed or
            // native-AOT build), which is a fault of the build, not of the file, and must not pass as a corrupt video.
            throw new JsonException($"FFMpegCore could not read ffprobe's output: {e.Message}", e);
        }
    }

    /// <summary>Normalises any angle to 0, 90, 180 or 270 (nearest quarter turn).</summary>
    public static int NormaliseRotation(double degrees)
    {
        var quarter = (long)Math.Round(degrees / 90.0, MidpointRounding.AwayFromZero);
        return (int)(((quarter % 4) + 4) % 4) * 90;
    }

    private static int ReadRotation(FFProbeStream stream)
    {
        foreach (var item in stream.SideData ?? [])
        {
            if (item.TryGetValue("rotation", out var rotation) && rotation is not null
                && rotation.GetValueKind() == JsonValueKind.Number && rotation.TryGetValue<double>(out var r))
            {
                return NormaliseRotation(r);
            }
        }

        // Older ffprobe exported the mov "rotate" tag, which counts clockwise; the display matrix counts the other way.
        if (stream.Tags is { } tags && tags.TryGetValue("rotate", out var rotate)
            && double.TryParse(rotate, NumberStyles.Float, CultureInfo.InvariantCulture, out var tagged))
        {
            return NormaliseRotation(-tagged);
        }

        return 0;
    }

    private static bool IsAttachedPicture(FFProbeStream stream) =>
        stream.Disposition is { } disposition && disposition.TryGetValue("attached_pic", out var attached) && attached == 1;

    private static double? ParseDouble(string? text) =>
        text is not null
        && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
        && double.IsFinite(value) ? value : null;

    /// <summary>A field FFMpegCore's model does not name (ffprobe prints <c>nb_frames</c> as a string), as a whole number.</summary>
    private static long? ParseLong(IReadOnlyDictionary<string, JsonElement> fields, string name)
    {
        if (!fields.TryGetValue(name, out var value))
        {
            return null;
        }

        var text = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            _ => null,
        };
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : null;
    }

    /// <summary>Parses <c>a/b</c> or <c>a:b</c>; null unless both are positive.</summary>
    internal static double? ParseRatio(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        var separator = text.IndexOfAny(['/', ':']);
        if (separator < 0)
        {
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var single) && single > 0 && double.IsFinite(single) ? single : null;
        }

        if (double.TryParse(text.AsSpan(0, separator), NumberStyles.Float, CultureInfo.InvariantCulture, out var num)
            && double.TryParse(text.AsSpan(separator + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var den)
            && num > 0 && den > 0)
        {
            return num / den;
        }

        return null;
    }
}
