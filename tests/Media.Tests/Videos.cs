using System.Collections.Concurrent;
using System.Diagnostics;

namespace TempMe.Pipeline.Media.Tests;

/// <summary>
/// Test videos made with ffmpeg's lavfi sources on first use, cached in one temp folder for the whole collection and
/// deleted at the end. Every recipe is a real encode, so the sampler meets real containers and codecs.
/// </summary>
public sealed class Videos : IDisposable
{
    private const string X264 = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p";
    private readonly ConcurrentDictionary<string, Lazy<Task<string>>> _made = new();

    /// <summary>Folder holding the generated files.</summary>
    public string Folder { get; } = Directory.CreateTempSubdirectory("tempme-media-tests-").FullName;

    /// <summary>5 s, 25 fps, 160x120 h264/mp4 (125 frames).</summary>
    public Task<string> H264Mp4Five => Make("h264_5s_25.mp4", $"-f lavfi -i testsrc=size=160x120:rate=25:duration=5 {X264}");

    /// <summary>0.5 s, 25 fps, 160x120 h264/mp4 (13 frames).</summary>
    public Task<string> H264Mp4Half => Make("h264_0.5s_25.mp4", $"-f lavfi -i testsrc=size=160x120:rate=25:duration=0.5 {X264}");

    /// <summary>90 s, 25 fps, 160x120 h264 in Matroska (no nb_frames in the container: 2250 frames).</summary>
    public Task<string> H264MkvNinety => Make("h264_90s_25.mkv", $"-f lavfi -i testsrc=size=160x120:rate=25:duration=90 {X264}");

    /// <summary>5 s, 25 fps, 160x120 VP9/WebM with audio (no nb_frames in the container).</summary>
    public Task<string> Vp9WebmFive => Make("vp9_5s_25.webm",
        "-f lavfi -i testsrc2=size=160x120:rate=25:duration=5 -f lavfi -i sine=duration=5 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -pix_fmt yuv420p -c:a libopus -shortest");

    /// <summary>15 s, 29.97 fps (30000/1001), 160x120 MPEG-4 part 2 in AVI.</summary>
    public Task<string> Mpeg4AviNtsc => Make("mpeg4_15s_2997.avi", "-f lavfi -i smptebars=size=160x120:rate=30000/1001:duration=15 -c:v mpeg4 -q:v 5");

    /// <summary>
    /// Variable frame rate, 4 s h264/mp4: 2 s at 10 fps then 2 s at 30 fps (80 frames; frame k at 0.1·k s for k &lt; 20,
    /// then 2 + (k − 20)/30 s).
    /// </summary>
    public Task<string> VariableRate => Make("vfr_4s.mp4",
        $"-f lavfi -i testsrc=size=160x120:rate=30:duration=4,select='if(lt(t\\,2)\\,not(mod(n\\,3))\\,1)' -fps_mode vfr {X264}");

    /// <summary>320x240 quadrants: top-left red, top-right green, bottom-left blue, bottom-right white; 1 s 25 fps h264.</summary>
    public Task<string> Quadrants => Make("quadrants.mp4", $"-f lavfi -i {QuadrantGraph(160, 120)} {X264}");

    /// <summary><see cref="Quadrants"/> with a display matrix turning it 90° counter-clockwise (portrait 240x320 on screen).</summary>
    public Task<string> QuadrantsRotated => Derive("quadrants_rot90.mp4", Quadrants, "-c copy -metadata:s:v rotate=90");

    /// <summary>160x120 with sample aspect ratio 2:1 (displays as 320x120): the left 60 coded columns red, the rest blue.</summary>
    public Task<string> WidePixels => Make("sar2.mp4",
        $"-f lavfi -i \"color=c=red:size=60x120:rate=25:duration=1[a];color=c=blue:size=100x120:rate=25:duration=1[b];[a][b]hstack,setsar=2\" {X264}");

    /// <summary>1x1 pixel red video, h264 4:4:4 (4:2:0 needs even sizes).</summary>
    public Task<string> OnePixel => Make("one_pixel.mp4", "-f lavfi -i color=c=red:size=16x16:rate=25:duration=1,scale=1:1 -c:v libx264 -preset ultrafast -pix_fmt yuv444p");

    /// <summary>3840x2160, 0.2 s, 25 fps h264 (5 frames).</summary>
    public Task<string> FourK => Make("uhd.mp4", $"-f lavfi -i testsrc2=size=3840x2160:rate=25:duration=0.2 {X264}");

    /// <summary>2 s of AAC audio in an MP4, no video.</summary>
    public Task<string> AudioOnly => Make("audio_only.mp4", "-f lavfi -i sine=duration=2 -c:a aac");

    /// <summary>A zero-byte .mp4.</summary>
    public Task<string> Empty => Write("empty.mp4", []);

    /// <summary>100 kB of random bytes named .mp4 (fixed seed).</summary>
    public Task<string> RandomBytes => Write("random.mp4", RandomData());

    /// <summary>A short text file named .mp4.</summary>
    public Task<string> TextFile => Write("text.mp4", "this is not a video, only some words\n"u8.ToArray());

    /// <summary><see cref="H264Mp4Five"/> (index at the end) cut to half its bytes: the index is gone.</summary>
    public Task<string> TruncatedNoIndex => Cut("truncated.mp4", H264Mp4Five);

    /// <summary>A 5 s 25 fps h264 with the index in front (faststart), cut to half its bytes: the index promises 125 frames.</summary>
    public Task<string> TruncatedFastStart => Cut("truncated_faststart.mp4",
        Make("h264_5s_25_faststart.mp4", $"-f lavfi -i testsrc=size=160x120:rate=25:duration=5 {X264} -movflags +faststart"));

    /// <summary>
    /// A 2 s 160x120 h264/mp4 with its index in front, in the <c>private</c> sub-folder: the file that the playlists below
    /// point at (index in front, so a playlist's sequential reader can play it).
    /// </summary>
    public Task<string> PrivateVideo => Make("private/secret.mp4", $"-f lavfi -i testsrc=size=160x120:rate=25:duration=2 {X264} -movflags +faststart");

    /// <summary>An HLS playlist saved as .mp4 whose one segment is <see cref="PrivateVideo"/>, by absolute path.</summary>
    public Task<string> HlsPlaylistNamedMp4 => WriteAbout("playlist.mp4", PrivateVideo, target =>
        $"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\n{target}\n#EXT-X-ENDLIST\n");

    /// <summary>An ffconcat script saved as .mp4 naming <see cref="PrivateVideo"/> (relative: the concat demuxer's safe mode refuses absolute paths).</summary>
    public Task<string> ConcatScriptNamedMp4 => WriteAbout("concat.mp4", PrivateVideo, _ => "ffconcat version 1.0\nfile private/secret.mp4\n");

    /// <summary>A DASH manifest saved as .mp4 whose one representation is <see cref="PrivateVideo"/>, by absolute path.</summary>
    public Task<string> DashManifestNamedMp4 => WriteAbout("manifest.mp4", PrivateVideo, target =>
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-on-demand:2011\" type=\"static\" mediaPresentationDuration=\"PT2S\" minBufferTime=\"PT1S\">\n" +
        "<Period><AdaptationSet mimeType=\"video/mp4\"><Representation id=\"0\" bandwidth=\"100000\" width=\"160\" height=\"120\">" +
        $"<BaseURL>{target}</BaseURL></Representation></AdaptationSet></Period>\n</MPD>\n");

    /// <summary>One 160x120 grey PNG frame in an AVI (control for the big ones: the container and codec decode).</summary>
    public Task<string> PngAviSmall => Write("png_160x120.avi", () => PngAvi.Create(160, 120, 160, 120));

    /// <summary>One 16384x16384 grey PNG frame (256 Mpx) in an AVI that states that size; about 260 kB on disk.</summary>
    public Task<string> PngAvi16384 => Write("png_16384x16384.avi", () => PngAvi.Create(16384, 16384, 16384, 16384));

    /// <summary>One 16000x16000 grey PNG frame in an AVI that states that size: just small enough for ffmpeg's own size check.</summary>
    public Task<string> PngAvi16000 => Write("png_16000x16000.avi", () => PngAvi.Create(16000, 16000, 16000, 16000));

    /// <summary>One 16000x16000 grey PNG frame in an AVI whose headers say 160x120: the container lies about the stream.</summary>
    public Task<string> PngAvi16000StatedSmall => Write("png_16000x16000_says_160x120.avi", () => PngAvi.Create(16000, 16000, 160, 120));

    /// <summary>A 1 s 160x120 video in the container and codec ffmpeg picks for <paramref name="extension"/> (as written by ffmpeg's muxer for it).</summary>
    public Task<string> InContainer(string extension, string options) =>
        Make($"container{extension}", $"-f lavfi -i testsrc=size=160x120:rate=25:duration=1 {options}");

    /// <summary>Runs ffmpeg with <paramref name="arguments"/> (split on spaces outside double quotes).</summary>
    public static async Task RunFfmpegAsync(string arguments)
    {
        var start = new ProcessStartInfo("ffmpeg") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in Split($"-nostdin -hide_banner -loglevel error -y {arguments}"))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg {arguments} failed ({process.ExitCode}): {await errors}");
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string QuadrantGraph(int w, int h) =>
        $"\"color=c=red:size={w}x{h}:rate=25:duration=1[a];color=c=lime:size={w}x{h}:rate=25:duration=1[b];" +
        $"color=c=blue:size={w}x{h}:rate=25:duration=1[c];color=c=white:size={w}x{h}:rate=25:duration=1[d];" +
        "[a][b]hstack[top];[c][d]hstack[bottom];[top][bottom]vstack\"";

    private Task<string> Make(string name, string recipe) =>
        _made.GetOrAdd(name, n => new Lazy<Task<string>>(async () =>
        {
            var path = Path.Combine(Folder, n);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await RunFfmpegAsync($"{recipe} \"{path}\"");
            return path;
        })).Value;

    private Task<string> Derive(string name, Task<string> from, string options) =>
        _made.GetOrAdd(name, n => new Lazy<Task<string>>(async () =>
        {
            var source = await from;
            var path = Path.Combine(Folder, n);
            await RunFfmpegAsync($"-i \"{source}\" {options} \"{path}\"");
            return path;
        })).Value;

    private Task<string> Cut(string name, Task<string> from) =>
        _made.GetOrAdd(name, n => new Lazy<Task<string>>(async () =>
        {
            var bytes = await File.ReadAllBytesAsync(await from);
            var path = Path.Combine(Folder, n);
            await File.WriteAllBytesAsync(path, bytes[..(bytes.Length / 2)]);
            return path;
        })).Value;

    private Task<string> WriteAbout(string name, Task<string> target, Func<string, string> content) =>
        _made.GetOrAdd(name, n => new Lazy<Task<string>>(async () =>
        {
            var text = content(await target);
            var path = Path.Combine(Folder, n);
            await File.WriteAllTextAsync(path, text);
            return path;
        })).Value;

    private Task<string> Write(string name, Func<byte[]> content) =>
        _made.GetOrAdd(name, n => new Lazy<Task<string>>(async () =>
        {
            var bytes = await Task.Run(content);
            var path = Path.Combine(Folder, n);
            await File.WriteAllBytesAsync(path, bytes);
            return path;
        })).Value;

    private Task<string> Write(string name, byte[] content) =>
        _made.GetOrAdd(name, n => new Lazy<Task<string>>(async () =>
        {
            var path = Path.Combine(Folder, n);
            await File.WriteAllBytesAsync(path, content);
            return path;
        })).Value;

    private static byte[] RandomData()
    {
        var bytes = new byte[100_000];
        new Random(1234).NextBytes(bytes);
        return bytes;
    }

    private static List<string> Split(string text)
    {
        var parts = new List<string>();
        var current = new System.Text.StringBuilder();
        var quoted = false;
        var any = false;
        foreach (var c in text)
        {
            if (c == '"')
            {
                quoted = !quoted;
                any = true;
            }
            else if (c == ' ' && !quoted)
            {
                if (any)
                {
                    parts.Add(current.ToString());
                    current.Clear();
                    any = false;
                }
            }
            else
            {
                current.Append(c);
                any = true;
            }
        }

        if (any)
        {
            parts.Add(current.ToString());
        }

        return parts;
    }
}

/// <summary>Tests that share <see cref="Videos"/>.</summary>
[CollectionDefinition(Name)]
public sealed class VideoCollection : ICollectionFixture<Videos>
{
    /// <summary>The collection name.</summary>
    public const string Name = "videos";
}
