using System.Globalization;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary>
/// Two real <c>tempme index</c> processes on the same <c>--out</c>: the second fails fast naming the first, and the
/// first is not disturbed (every video encoded once).
/// </summary>
public sealed class OutputLockTests : IDisposable
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(5);
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-lock-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_second_run_on_the_same_out_exits_2_naming_the_first_and_the_first_finishes_alone()
    {
        var videos = Path.Combine(_root, "videos");
        for (var i = 0; i < 10; i++)
        {
            TestVideos.MakeMp4(Path.Combine(videos, $"v{i:D2}.mp4"), 2.0, hue: i * 36);
        }

        var output = Path.Combine(_root, "out");
        string[] args = ["index", videos, "--out", output, "--model", "random:vit-b32", "--shard-size", "1", "--batch", "1", "--decoders", "1"];
        using var first = new TempmeProcess(args, new Dictionary<string, string?>());
        var firstPart = Path.Combine(output, "embeddings", "part-00000.jsonl");
        using (var guard = new CancellationTokenSource(RunLimit))
        {
            while (!File.Exists(firstPart))
            {
                Assert.False(first.HasExited, "the first run ended before the second could start: " + first.Output);
                await Task.Delay(20, guard.Token);
            }
        }

        var second = await TempmeCli.RunAsync(RunLimit, args);
        Assert.False(first.HasExited, "the first run ended before the second was refused, so the test proved nothing: " + first.Output);
        Assert.True(second.ExitCode == 2, $"exit {second.ExitCode}: {second.Stderr}{second.Stdout}");
        Assert.Contains(output, second.Stderr, StringComparison.Ordinal);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"pid {first.Id}"), second.Stderr, StringComparison.Ordinal);
        Assert.Contains(Environment.MachineName, second.Stderr, StringComparison.Ordinal);

        Assert.Equal(0, await first.WaitAsync(RunLimit));
        Assert.Contains("(10 encoded, 0 reused", first.Output, StringComparison.Ordinal);
    }
}
