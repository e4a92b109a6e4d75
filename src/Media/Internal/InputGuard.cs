using System.Globalization;
using System.Text.RegularExpressions;

namespace TempMe.Pipeline.Media.Internal;

/// <summary>
/// The input options that keep ffprobe and ffmpeg to the one local video file they are given, with frames of a bounded
/// size, and the readers of the log lines those options produce when they refuse something.
/// </summary>
/// <remarks>
/// Without a format whitelist ffmpeg picks the demuxer from the bytes, whatever the file's name: an HLS playlist, an
/// ffconcat script or a DASH manifest saved as <c>evil.mp4</c> makes it open and decode the files they name (any local
/// path), and image2 reads numbered image sequences. The whitelist holds only container demuxers that read their own
/// file (mov's external data references stay off, its default): the demuxer names Debian's ffmpeg 5.1 lists in
/// <c>ffmpeg -demuxers</c> for the extensions the local lister picks up (.mp4 .m4v .mov .3gp: mov; .mkv .webm:
/// matroska; .avi; .mpg .mpeg: mpeg, and mpegvideo for raw MPEG-1/2 streams; .ts: mpegts; .wmv: asf; .flv; raw
/// MPEG-4 .m4v: m4v). The protocol whitelist stops any demuxer from reaching beyond local files; the sampler names
/// its input <c>file:</c>.
/// </remarks>
internal static partial class InputGuard
{
    /// <summary>The demuxers ffprobe and ffmpeg may use (<c>-format_whitelist</c>).</summary>
    public const string AllowedFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpeg,mpegvideo,mpegts,asf,flv,m4v";

    /// <summary>The same, for people: what a refused file should have been.</summary>
    public const string AllowedFormatsForPeople = "MP4/MOV/3GP, Matroska/WebM, AVI, MPEG-PS/TS, raw MPEG video, ASF/WMV or FLV";

    /// <summary>Options placed before every <c>-i</c> (ffmpeg) or before the input (ffprobe).</summary>
    /// <param name="maxFramePixels">Largest frame, in pixels, that a decoder may allocate (<c>-max_pixels</c>).</param>
    public static string[] InputOptions(long maxFramePixels) =>
    [
        "-protocol_whitelist", "file",
        "-format_whitelist", AllowedFormats,
        "-max_pixels", maxFramePixels.ToString(CultureInfo.InvariantCulture),
    ];

    /// <summary>Options placed before ffmpeg's <c>pipe:1</c> output.</summary>
    public static string[] OutputOptions { get; } = ["-protocol_whitelist", "pipe"];

    /// <summary>The demuxer ffmpeg detected and refused because it is not on the whitelist; null when none was.</summary>
    public static string? RefusedFormat(string stderr) =>
        RefusedFormatLine().Match(stderr) is { Success: true } match ? match.Groups["name"].Value : null;

    /// <summary>
    /// The largest frame size a decoder refused (over <c>-max_pixels</c>, or over ffmpeg's own limit of about
    /// 268 million pixels); null when none was.
    /// </summary>
    public static (long Width, long Height)? LargestRefusedPicture(string stderr)
    {
        (long Width, long Height)? largest = null;
        foreach (Match match in RefusedPictureLine().Matches(stderr))
        {
            if (long.TryParse(match.Groups["w"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var w)
                && long.TryParse(match.Groups["h"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var h)
                && (largest is not { } known || w * h > known.Width * known.Height))
            {
                largest = (w, h);
            }
        }

        return largest;
    }

    /// <summary>True when an allocation failed (ENOMEM's text), e.g. under the process's data-size limit.</summary>
    public static bool RanOutOfMemory(string stderr) => stderr.Contains("Cannot allocate memory", StringComparison.Ordinal);

    // "[hls @ 0x55d0c1f0a700] Format not on whitelist '…'", with "[error] " after the context when log levels are shown.
    [GeneratedRegex(@"\[(?<name>[A-Za-z0-9_,]+) @ 0x[0-9a-fA-F]+\] (?:\[\w+\] )?Format not on whitelist")]
    private static partial Regex RefusedFormatLine();

    // libavutil's av_image_check_size2: "Picture size 16000x16000 exceeds specified max pixel count …" or "… is invalid".
    [GeneratedRegex(@"Picture size (?<w>\d{1,9})x(?<h>\d{1,9}) (?:exceeds|is invalid)")]
    private static partial Regex RefusedPictureLine();
}
