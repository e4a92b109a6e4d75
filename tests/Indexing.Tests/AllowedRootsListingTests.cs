using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Indexing.Sources;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary>
/// The silo's listing with <c>--allowed-roots</c>: every entry judged by its real path; entries leading out come back
/// refused, unopened, with <see cref="ErrorCodes.OutsideAllowedRoots"/>.
/// </summary>
public sealed class AllowedRootsListingTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-roots-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Allowed => Path.Combine(_root, "allowed");

    private string Outside => Path.Combine(_root, "outside");

    [Fact]
    public void Links_and_list_entries_leading_out_are_refused_and_the_rest_listed_by_real_path()
    {
        var input = Path.Combine(Allowed, "in");
        TestVideos.MakeMp4(Path.Combine(input, "good.mp4"), 1.0);
        TestVideos.MakeMp4(Path.Combine(Outside, "secret.mp4"), 1.0, hue: 60);
        Directory.CreateDirectory(Path.Combine(Outside, "folder"));
        File.CreateSymbolicLink(Path.Combine(input, "alias.mp4"), "good.mp4");
        File.CreateSymbolicLink(Path.Combine(input, "out.mp4"), Path.Combine(Outside, "secret.mp4"));
        File.CreateSymbolicLink(Path.Combine(input, "dangling.mp4"), Path.Combine(Outside, "gone.mp4"));
        File.CreateSymbolicLink(Path.Combine(input, "out-folder"), Path.Combine(Outside, "folder"));
        File.CreateSymbolicLink(Path.Combine(input, "up"), "../..");
        var roots = new AllowedRoots([Allowed]);

        var listed = LocalSourceLister.List(input, allowedRoots: roots);

        Assert.Equal(
            [
                (Path.Combine(input, "dangling.mp4"), ErrorCodes.OutsideAllowedRoots),
                (Path.Combine(input, "good.mp4"), null),
                (Path.Combine(input, "out-folder"), ErrorCodes.OutsideAllowedRoots),
                (Path.Combine(input, "out.mp4"), ErrorCodes.OutsideAllowedRoots),
                (Path.Combine(input, "up"), ErrorCodes.OutsideAllowedRoots),
            ],
            listed.Select(v => (v.Source, v.Refusal?.ErrorCode)).ToArray());
        Assert.All(listed.Where(v => v.Refusal is not null), v => Assert.Equal(-1, v.Size));
        Assert.All(listed.Where(v => v.Refusal is not null), v => Assert.DoesNotContain(Outside, v.Refusal!.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void A_list_file_may_only_name_files_under_the_roots()
    {
        TestVideos.MakeMp4(Path.Combine(Allowed, "a.mp4"), 1.0);
        TestVideos.MakeMp4(Path.Combine(Outside, "b.mp4"), 1.0, hue: 30);
        File.CreateSymbolicLink(Path.Combine(Allowed, "b-link.mp4"), Path.Combine(Outside, "b.mp4"));
        var list = Path.Combine(Allowed, "list.txt");
        File.WriteAllLines(list, ["a.mp4", "missing.mp4", "b-link.mp4", "/etc/hostname", "../outside/b.mp4", "# comment"]);

        var listed = LocalSourceLister.List(list, allowedRoots: new AllowedRoots([Allowed]));

        Assert.Equal(
            [
                ("/etc/hostname", ErrorCodes.OutsideAllowedRoots),
                (Path.Combine(Allowed, "a.mp4"), null),
                (Path.Combine(Allowed, "b-link.mp4"), ErrorCodes.OutsideAllowedRoots),
                (Path.Combine(Allowed, "missing.mp4"), null),
                (Path.Combine(Outside, "b.mp4"), ErrorCodes.OutsideAllowedRoots),
            ],
            listed.Select(v => (v.Source, v.Refusal?.ErrorCode)).ToArray());
        Assert.Equal(-1, listed.Single(v => v.Source.EndsWith("missing.mp4", StringComparison.Ordinal)).Size);
    }

    [Fact]
    public void A_source_that_is_a_link_out_of_the_roots_is_refused_whole()
    {
        TestVideos.MakeMp4(Path.Combine(Outside, "b.mp4"), 1.0);
        Directory.CreateDirectory(Allowed);
        File.CreateSymbolicLink(Path.Combine(Allowed, "source"), Outside);

        var ex = Assert.Throws<UnauthorizedAccessException>(() => LocalSourceLister.List(Path.Combine(Allowed, "source"), allowedRoots: new AllowedRoots([Allowed])));
        Assert.Contains("--allowed-roots", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_root_given_through_a_link_is_judged_by_its_target()
    {
        TestVideos.MakeMp4(Path.Combine(Allowed, "a.mp4"), 1.0);
        var linkToRoot = Path.Combine(_root, "root-link");
        File.CreateSymbolicLink(linkToRoot, Allowed);
        var roots = new AllowedRoots([linkToRoot]);

        Assert.Equal([Allowed], roots.Paths);
        Assert.True(roots.Contains(Path.Combine(Allowed, "a.mp4")));
        Assert.True(roots.Contains(Path.Combine(linkToRoot, "a.mp4")));
        Assert.False(roots.Contains(Path.Combine(linkToRoot, "..", "outside")));
        Assert.Equal([Path.Combine(Allowed, "a.mp4")], LocalSourceLister.List(linkToRoot, allowedRoots: roots).Select(v => v.Source).ToArray());
    }

    [Fact]
    public void Real_paths_resolve_links_in_every_component_and_keep_missing_ones()
    {
        Directory.CreateDirectory(Path.Combine(Outside, "deep"));
        Directory.CreateDirectory(Allowed);
        File.CreateSymbolicLink(Path.Combine(Allowed, "hop"), "../outside");
        File.CreateSymbolicLink(Path.Combine(Allowed, "loop-a"), "loop-b");
        File.CreateSymbolicLink(Path.Combine(Allowed, "loop-b"), "loop-a");

        Assert.Equal(Path.Combine(Outside, "deep", "not-yet", "x.mp4"), RealPath.Of(Path.Combine(Allowed, "hop", "deep", "not-yet", "x.mp4")));
        Assert.Equal(Outside, RealPath.Of(Path.Combine(Allowed, "hop", "deep", "..")));
        Assert.Equal(_root, RealPath.Of(Path.Combine(Allowed, "hop", ".."))); // ".." after the link, as the kernel does

        Assert.Throws<IOException>(() => RealPath.Of(Path.Combine(Allowed, "loop-a")));
        Assert.False(new AllowedRoots([Allowed]).Contains(Path.Combine(Allowed, "loop-a")));
    }
}
