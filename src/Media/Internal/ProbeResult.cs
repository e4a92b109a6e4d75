using System.Globalization;
using System.Text.Json;

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

    /// <summary>Parses ffprobe's JSON. Throws <see cref="JsonException"/> on malformed text.</summary>
    public static ProbeResult Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        double? formatDuration = null;
        if (root.TryGetProperty("format", out var format))
        {
            formatDuration = ParseDouble(format, "duration");
        }

        if (!root.TryGetProperty("streams", out var streams) || streams.ValueKind != JsonValueKind.Array)
        {
            return new ProbeResult { DurationSeconds = formatDuration };
        }

        var count = streams.GetArrayLength();
        foreach (var stream in streams.EnumerateArray())
        {
            if (GetString(stream, "codec_type") != "video" || IsAttachedPicture(stream))
            {
                continue;
            }

            var codec = GetString(stream, "codec_name");
            return new ProbeResult
            {
                VideoStreamIndex = stream.TryGetProperty("index", out var index) && index.TryGetInt32(out var i) ? i : 0,
                StreamCount = count,
                Codec = string.IsNullOrEmpty(codec) || codec == "none" ? null : codec,
                Width = stream.TryGetProperty("width", out var w) && w.TryGetInt32(out var wv) ? wv : 0,
                Height = stream.TryGetProperty("height", out var h) && h.TryGetInt32(out var hv) ? hv : 0,
                SampleAspectRatio = ParseRatio(GetString(stream, "sample_aspect_ratio")) ?? 1,
                AverageFrameRate = ParseRatio(GetString(stream, "avg_frame_rate")),
                RealFrameRate = ParseRatio(GetString(stream, "r_frame_rate")),
                ContainerFrameCount = ParseLong(stream, "nb_frames") is > 0 and var n ? n : null,
                DurationSeconds = ParseDouble(stream, "duration") is > 0 and var d ? d : formatDuration,
                Rotation = ReadRotation(stream),
            };
        }

        return new ProbeResult { StreamCount = count, DurationSeconds = formatDuration };
    }

    /// <summary>Normalises any angle to 0, 90, 180 or 270 (nearest quarter turn).</summary>
    public static int NormaliseRotation(double degrees)
    {
        var quarter = (long)Math.Round(degrees / 90.0, MidpointRounding.AwayFromZero);
        return (int)(((quarter % 4) + 4) % 4) * 90;
    }

    private static int ReadRotation(JsonElement stream)
    {
        if (stream.TryGetProperty("side_data_list", out var sideData) && sideData.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in sideData.EnumerateArray())
            {
                if (item.TryGetProperty("rotation", out var rotation) && rotation.TryGetDouble(out var r))
                {
                    return NormaliseRotation(r);
                }
            }
        }

        // Older ffprobe exported the mov "rotate" tag, which counts clockwise; the display matrix counts the other way.
        if (stream.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Object
            && GetString(tags, "rotate") is { } rotate
            && double.TryParse(rotate, NumberStyles.Float, CultureInfo.InvariantCulture, out var tagged))
        {
            return NormaliseRotation(-tagged);
        }

        return 0;
    }

    private static bool IsAttachedPicture(JsonElement stream) =>
        stream.TryGetProperty("disposition", out var disposition)
        && disposition.ValueKind == JsonValueKind.Object
        && disposition.TryGetProperty("attached_pic", out var attached)
        && attached.TryGetInt32(out var value) && value == 1;

    private static string? GetString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            _ => null,
        } : null;

    private static double? ParseDouble(JsonElement element, string name) =>
        GetString(element, name) is { } text
        && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
        && double.IsFinite(value) ? value : null;

    private static long? ParseLong(JsonElement element, string name) =>
        GetString(element, name) is { } text
        && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

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
