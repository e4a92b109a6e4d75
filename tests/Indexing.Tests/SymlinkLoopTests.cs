using System.Text.Json;
using TempMe.Pipeline.Indexing.Sources;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary>Links that lead back up the tree do not multiply the listing, in the lister and in <c>tempme index</c>.</summary>
public sealed class SymlinkLoopTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-loop-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>3 real videos and <c>loop -> ..</c>, the reported case (it listed 121 videos).</summary>
    private string MakeLoopedCorpus()
    {
        var videos = Path.Combine(_root, "videos");
        TestVideos.MakeMp4(Path.Combine(videos, "a.mp4"), 1.0, hue: 0);
        TestVideos.MakeMp4(Path.Combine(videos, "b.mp4"), 1.0, hue: 120);
        TestVideos.MakeMp4(Path.Combine(videos, "sub", "c.mp4"), 1.0, hue: 240);
        File.CreateSymbolicLink(Path.Combine(videos, "loop"), "..");
        return videos;
    }

    [Fact]
    public void The_lister_gives_each_video_once_despite_a_link_to_the_parent()
    {
        var videos = MakeLoopedCorpus();

        var listed = LocalSourceLister.List(videos);

        Assert.Equal(
            [Path.Combine(videos, "a.mp4"), Path.Combine(videos, "b.mp4"), Path.Combine(videos, "sub", "c.mp4")],
            listed.Select(v => v.Source).ToArray());
    }

    [Fact]
    public void Links_to_the_folder_itself_and_to_its_parent_from_below_are_not_followed()
    {
        // Before the fix this corpus did not finish listing: three loops branch at every level, 40 levels deep.
        var videos = MakeLoopedCorpus();
        File.CreateSymbolicLink(Path.Combine(videos, "sub", "back"), "..");
        File.CreateSymbolicLink(Path.Combine(videos, "sub", "self"), ".");

        var listed = LocalSourceLister.List(videos);

        Assert.Equal(3, listed.Count);
    }

    [Fact]
    public void A_linked_folder_elsewhere_is_followed_once_even_when_linked_twice()
    {
        var videos = Path.Combine(_root, "videos");
        var extra = Path.Combine(_root, "extra");
        TestVideos.MakeMp4(Path.Combine(videos, "a.mp4"), 1.0);
        TestVideos.MakeMp4(Path.Combine(extra, "x.mp4"), 1.0, hue: 60);
        File.CreateSymbolicLink(Path.Combine(videos, "more"), extra);
        File.CreateSymbolicLink(Path.Combine(videos, "more-again"), extra);

        var listed = LocalSourceLister.List(videos).Select(v => v.Source).ToArray();

        Assert.Equal(2, listed.Length);
        Assert.Equal(Path.Combine(videos, "a.mp4"), listed[0]);
        Assert.Equal("x.mp4", Path.GetFileName(listed[1]));
    }

    [Fact]
    public async Task Index_of_three_videos_and_a_loop_link_indexes_exactly_three()
    {
        var videos = MakeLoopedCorpus();
        var output = Path.Combine(_root, "out");

        var run = await TempmeCli.RunAsync(TimeSpan.FromMinutes(4), "index", videos, "--out", output, "--model", "random:vit-b32");

        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(output, "index.json")));
        var counts = index.RootElement.GetProperty("counts");
        Assert.Equal(3, counts.GetProperty("videos").GetInt32());
        Assert.Equal(3, counts.GetProperty("indexed").GetInt32());
        Assert.Equal(0, counts.GetProperty("failed").GetInt32());
    }
}
