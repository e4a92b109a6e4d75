using Microsoft.Data.Sqlite;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Media;
using TempMe.Pipeline.Storage;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary>
/// <c>tempme index</c> onto a disk that fills up (a real 200 KB tmpfs, real ffmpeg videos, the real encoder): the first
/// failed stage stops the run with a clear error and exit 1, never a hang, and SIGTERM meanwhile never crashes.
/// </summary>
public sealed class FullDiskTests : IDisposable
{
    // A hang guard, not a timing assertion: the run ends in seconds once it stops on the first failure.
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(3);
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-full-").FullName;
    private readonly Tmpfs _disk;

    public FullDiskTests() => _disk = Tmpfs.Mount(Path.Combine(_root, "disk"), "200k");

    public void Dispose()
    {
        _disk.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private string MakeVideos(int count)
    {
        var videos = Path.Combine(_root, "videos");
        for (var i = 0; i < count; i++)
        {
            TestVideos.MakeMp4(Path.Combine(videos, $"v{i}.mp4"), 1.0, hue: i * 50);
        }

        return videos;
    }

    [Fact]
    public async Task A_disk_that_fills_up_stops_the_run_with_exit_1_and_says_so()
    {
        var videos = MakeVideos(6);
        var output = Path.Combine(_disk.Path, "out");

        // Hanging here (TimeoutException) is the failure this test guards against.
        var run = await TempmeCli.RunAsync(HangGuard, "index", videos, "--out", output, "--model", "random:vit-b32", "--shard-size", "1", "--batch", "2");

        Assert.True(run.ExitCode == 1, $"exit {run.ExitCode}: {run.Stderr}");
        Assert.Contains("full", run.Stderr, StringComparison.Ordinal);
        Assert.Contains(output, run.Stderr, StringComparison.Ordinal);
        AssertNoCrash(run.Stderr);
    }

    [Fact]
    public async Task A_full_disk_under_the_ledger_names_the_ledger_instead_of_crashing()
    {
        var videos = MakeVideos(1);
        var output = Directory.CreateDirectory(Path.Combine(_disk.Path, "out")).FullName;
        _disk.Fill();

        var run = await TempmeCli.RunAsync(HangGuard, "index", videos, "--out", output, "--model", "random:vit-b32");

        Assert.True(run.ExitCode == 1, $"exit {run.ExitCode}: {run.Stderr}");
        Assert.Contains(Path.Combine(output, ".tempme", "ledger.db"), run.Stderr, StringComparison.Ordinal);
        Assert.Contains("full", run.Stderr, StringComparison.Ordinal);
        AssertNoCrash(run.Stderr);
    }

    [Fact]
    public async Task Sigterm_while_the_disk_is_full_ends_with_130_or_1_and_no_crash()
    {
        var videos = MakeVideos(6);
        var output = Path.Combine(_disk.Path, "out");
        using var run = new TempmeProcess(["index", videos, "--out", output, "--model", "random:vit-b32", "--shard-size", "1", "--batch", "2"], new Dictionary<string, string?>());

        // Signal once the disk is full: the moment the old code froze (and then crashed on SIGTERM).
        using (var guard = new CancellationTokenSource(HangGuard))
        {
            while (!run.HasExited && _disk.FreeBytes > 0)
            {
                await Task.Delay(20, guard.Token);
            }
        }

        try
        {
            TestVideos.Run("kill", "-TERM", run.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (InvalidOperationException) when (run.HasExited)
        {
            // It already stopped on the full disk by itself.
        }

        var code = await run.WaitAsync(HangGuard);
        Assert.True(code is 130 or 1, $"exit {code}: {run.Output}");
        AssertNoCrash(run.Output);
    }

    [Fact]
    public async Task A_failing_part_writer_stops_the_shared_pipeline_and_hands_its_shards_back()
    {
        // The ledger on a healthy disk, the parts on the full one: the part writer is the stage that fails, as in the
        // worker, which runs the same ShardPipeline against its own output store.
        var videos = MakeVideos(6);
        var ledgerFolder = Path.Combine(_root, "index");
        var encoder = EncoderFactory.Create("random:vit-b32", 12);
        var request = new LocalIndexRequest(videos, ledgerFolder, "random:vit-b32", SamplingSettings.Default, 1, new ShardPipelineOptions { BatchSize = 2 });
        var parts = new LocalFolderStore(Path.Combine(_disk.Path, "parts"));
        _disk.Fill();

        var run = LocalIndexer.RunAsync(request, encoder, new FfmpegFrameSampler(), parts, null, CancellationToken.None);
        var failure = await Assert.ThrowsAsync<IndexStorageException>(() => run.WaitAsync(HangGuard));

        Assert.Contains("full", failure.Message, StringComparison.Ordinal);
        Assert.IsType<IOException>(failure.InnerException, exactMatch: false);
        using var connection = new SqliteConnection($"Data Source={LocalIndexer.LedgerPath(ledgerFolder)};Pooling=False");
        connection.Open();
        using var leased = connection.CreateCommand();
        leased.CommandText = "SELECT COUNT(*) FROM shards WHERE state = 'leased'";
        Assert.Equal(0L, (long)leased.ExecuteScalar()!);
    }

    private static void AssertNoCrash(string stderr)
    {
        Assert.DoesNotContain("Unhandled exception", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }
}
