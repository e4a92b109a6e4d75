using System.Text.Json;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Search;

namespace TempMe.Pipeline.Indexing.Tests.Thumbnails;

/// <summary>
/// Thumbnails end to end: <c>tempme index</c> on real ffmpeg-made videos (one of them copied) with the real encoder and
/// output folder, then <c>tempme search --json</c> over the result.
/// </summary>
public sealed class IndexThumbnailTests : IDisposable
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(4);
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-thumbs-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>An h264 mp4 of one solid colour, so the thumbnail's colour can be checked.</summary>
    private static void SolidColour(string path, string colour, double seconds)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        TestVideos.Run("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", string.Create(System.Globalization.CultureInfo.InvariantCulture, $"color=c={colour}:size=160x120:rate=25:duration={seconds}"),
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path);
    }

    [Fact]
    public async Task Index_writes_one_160_pixel_jpeg_per_content_and_search_results_name_it()
    {
        var videos = Path.Combine(_root, "videos");
        SolidColour(Path.Combine(videos, "red.mp4"), "0xDC1E28", 2.0);
        SolidColour(Path.Combine(videos, "blue.mp4"), "0x1E32D2", 1.5);
        File.Copy(Path.Combine(videos, "red.mp4"), Path.Combine(videos, "copy-of-red.mp4"));
        var output = Path.Combine(_root, "out");

        var run = await TempmeCli.RunAsync(RunLimit, "index", videos, "--out", output, "--model", "random:vit-b32", "--shard-size", "2", "--batch", "2");
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);

        // Two contents, two thumbnails, each under its content hash: the copy shares the original's.
        var thumbnails = Directory.GetFiles(Path.Combine(output, "thumbnails"), "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(output, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(2, thumbnails.Count);
        Assert.All(thumbnails, t => Assert.Matches("^thumbnails/([0-9a-f]{2})/\\1[0-9a-f]{62}\\.jpg$", t));
        foreach (var thumbnail in thumbnails)
        {
            var image = DecodedJpeg.Decode(File.ReadAllBytes(Path.Combine(output, thumbnail)));
            Assert.Equal((160, 160), (image.Width, image.Height));
        }

        var search = await TempmeCli.RunAsync(RunLimit, "search", output, "a man is cooking pasta", "-k", "3", "--json", "--vocab", TinySearchIndex.Vocab);
        Assert.True(search.ExitCode == 0, search.Stderr);
        var hits = search.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(3, hits.Count);
        foreach (var hit in hits)
        {
            var sha = hit.GetProperty("content_sha256").GetString()!;
            Assert.Equal($"thumbnails/{sha[..2]}/{sha}.jpg", hit.GetProperty("thumbnail").GetString());
        }

        var red = hits.Single(h => h.GetProperty("source").GetString()!.EndsWith("/red.mp4", StringComparison.Ordinal));
        var copy = hits.Single(h => h.GetProperty("source").GetString()!.EndsWith("copy-of-red.mp4", StringComparison.Ordinal));
        Assert.Equal(red.GetProperty("thumbnail").GetString(), copy.GetProperty("thumbnail").GetString());

        // The red video's thumbnail is red, the blue one's blue: the frame is shown, not noise.
        var redImage = DecodedJpeg.Decode(File.ReadAllBytes(Path.Combine(output, red.GetProperty("thumbnail").GetString()!))).Mean();
        var blue = hits.Single(h => h.GetProperty("source").GetString()!.EndsWith("/blue.mp4", StringComparison.Ordinal));
        var blueImage = DecodedJpeg.Decode(File.ReadAllBytes(Path.Combine(output, blue.GetProperty("thumbnail").GetString()!))).Mean();
        Assert.True(redImage.R > redImage.B + 40, $"red video's thumbnail averages {redImage}");
        Assert.True(blueImage.B > blueImage.R + 40, $"blue video's thumbnail averages {blueImage}");
    }
}
