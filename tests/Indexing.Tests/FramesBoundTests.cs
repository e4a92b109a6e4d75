using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary>
/// <c>--frames</c> has the silo's bound in every command that takes it, and frame counts times batch sizes are
/// checked before anything runs: exit 2 with the bound named, never an overflow or a run where every video fails.
/// </summary>
public sealed class FramesBoundTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-frames-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData("100008")] // was an OverflowException with a stack trace
    [InlineData("28536")] // was exit 0 with every video failed as internal
    [InlineData("257")]
    public async Task Index_refuses_frames_above_the_bound(string frames)
    {
        var videos = Path.Combine(_root, "videos");
        TestVideos.MakeMp4(Path.Combine(videos, "a.mp4"), 1.0);
        var output = Path.Combine(_root, "out");

        var run = await TempmeCli.RunAsync(Limit, "index", videos, "--out", output, "--model", "random:vit-b32", "--frames", frames);

        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}: {run.Stderr}{run.Stdout}");
        Assert.Contains($"--frames must be from 1 to {SamplingSettings.MaxFrames}", run.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public async Task Index_accepts_the_bound_itself()
    {
        var videos = Path.Combine(_root, "videos");
        TestVideos.MakeMp4(Path.Combine(videos, "a.mp4"), 1.0);
        var blocker = Path.Combine(_root, "a-file");
        File.WriteAllText(blocker, "x");

        // --out is checked after --frames: its error proves 256 passed.
        var run = await TempmeCli.RunAsync(Limit, "index", videos, "--out", blocker, "--model", "random:vit-b32", "--frames", $"{SamplingSettings.MaxFrames}");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("is a file", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Index_refuses_a_batch_whose_frames_do_not_fit_one_buffer()
    {
        var videos = Path.Combine(_root, "videos");
        TestVideos.MakeMp4(Path.Combine(videos, "a.mp4"), 1.0);

        var run = await TempmeCli.RunAsync(Limit, "index", videos, "--out", Path.Combine(_root, "out"), "--model", "random:vit-b32", "--frames", "256", "--batch", "100");

        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}: {run.Stderr}{run.Stdout}");
        Assert.Contains("--batch", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("frames", "VIDEO")]
    [InlineData("bench-decode")]
    [InlineData("bench-encoder")]
    public async Task Other_commands_refuse_frames_above_the_bound(string command, string? video = null)
    {
        string[] args = video is null ? [command, "--frames", "100008"] : [command, Path.Combine(_root, "none.mp4"), "--frames", "100008"];
        if (command == "bench-decode")
        {
            args = [.. args, "--dir", Path.Combine(_root, "bench")];
        }

        var run = await TempmeCli.RunAsync(Limit, args);

        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}: {run.Stderr}{run.Stdout}");
        Assert.Contains($"--frames must be from 1 to {SamplingSettings.MaxFrames}", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_encoder_refuses_a_batch_whose_frames_do_not_fit_one_buffer()
    {
        var run = await TempmeCli.RunAsync(Limit, "bench-encoder", "--frames", "256", "--batch", "100", "--videos", "1");

        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}: {run.Stderr}{run.Stdout}");
        Assert.Contains("--batch", run.Stderr, StringComparison.Ordinal);
    }
}
