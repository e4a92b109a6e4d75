using System.Text.Json;
using Microsoft.Data.Sqlite;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary>
/// <c>kill -9</c> in the middle of <c>tempme index</c>, then the same command again: the output must equal an
/// uninterrupted run's, every video exactly once, and videos finished before the kill are not recomputed.
/// </summary>
public sealed class KillAndResumeTests : IDisposable
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(5);
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-kill-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Resumed_output_equals_a_clean_run()
    {
        var videos = Path.Combine(_root, "videos");
        for (var i = 0; i < 10; i++)
        {
            TestVideos.MakeMp4(Path.Combine(videos, $"v{i:D2}.mp4"), 1.0 + (i % 3), hue: i * 36);
        }

        File.WriteAllText(Path.Combine(videos, "zz-broken.avi"), "garbage");
        string[] common = ["--model", "random:vit-b32", "--shard-size", "3", "--batch", "2"];

        var clean = Path.Combine(_root, "clean");
        var cleanRun = await TempmeCli.RunAsync(RunLimit, ["index", videos, "--out", clean, .. common]);
        Assert.True(cleanRun.ExitCode == 0, cleanRun.Stderr);

        var resumed = Path.Combine(_root, "resumed");
        using (var victim = TempmeCli.Start(["index", videos, "--out", resumed, .. common]))
        {
            var victimOutput = new System.Text.StringBuilder();
            victim.OutputDataReceived += (_, e) => { lock (victimOutput) { victimOutput.AppendLine(e.Data); } };
            victim.ErrorDataReceived += (_, e) => { lock (victimOutput) { victimOutput.AppendLine(e.Data); } };
            victim.BeginOutputReadLine();
            victim.BeginErrorReadLine();
            // Kill once the first part is durable: later shards are still in flight then.
            var firstPart = Path.Combine(resumed, "embeddings", "part-00000.jsonl");
            var deadline = DateTime.UtcNow + RunLimit;
            while (!File.Exists(firstPart))
            {
                Assert.False(victim.HasExited, "the run finished before it could be killed: " + victimOutput);
                Assert.True(DateTime.UtcNow < deadline, "no progress before the deadline");
                await Task.Delay(20);
            }

            Assert.False(victim.HasExited, "the run finished before it could be killed: " + victimOutput);
            victim.Kill(); // SIGKILL: no clean-up code runs.
            await victim.WaitForExitAsync();
            Assert.True(victim.ExitCode == 137, $"exit code {victim.ExitCode}: {victimOutput}");
        }

        // The killed run's lock file is still there; its OS lock died with it, so it must not block the resume.
        Assert.True(File.Exists(Path.Combine(resumed, ".tempme", "lock")), "the run held no lock file");
        var doneAtKill = DoneCount(Path.Combine(resumed, ".tempme", "ledger.db"));
        Assert.InRange(doneAtKill, 2, 9);

        var resume = await TempmeCli.RunAsync(RunLimit, ["index", videos, "--out", resumed, .. common]);
        Assert.True(resume.ExitCode == 0, resume.Stderr);
        var encodedNow = int.Parse(System.Text.RegularExpressions.Regex.Match(resume.Stdout, @"\((\d+) encoded").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(10 - doneAtKill, encodedNow);

        // Same files, same metadata bytes; embeddings equal up to float rounding of a different batch composition.
        var expected = TempmeCli.Snapshot(clean);
        var actual = TempmeCli.Snapshot(resumed);
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var name in expected.Keys.Where(n => !n.EndsWith(".npy", StringComparison.Ordinal)))
        {
            Assert.Equal(TempmeCli.Text(expected[name]), TempmeCli.Text(actual[name]));
        }

        using var cleanIndex = JsonDocument.Parse(expected["index.json"]);
        using var resumedIndex = JsonDocument.Parse(actual["index.json"]);
        var cleanRows = IndexCommandTests.ReadAllRows(clean, cleanIndex.RootElement);
        var resumedRows = IndexCommandTests.ReadAllRows(resumed, resumedIndex.RootElement);
        Assert.Equal(10, resumedRows.Select(r => r.Source).Distinct().Count());
        Assert.Equal(cleanRows.Select(r => r.Source), resumedRows.Select(r => r.Source));
        for (var i = 0; i < cleanRows.Count; i++)
        {
            for (var j = 0; j < cleanRows[i].Vector.Length; j++)
            {
                Assert.True(Math.Abs(cleanRows[i].Vector[j] - resumedRows[i].Vector[j]) <= 1e-5, $"row {i} value {j}: {cleanRows[i].Vector[j]} vs {resumedRows[i].Vector[j]}");
            }
        }
    }

    [Fact]
    public async Task Sigterm_stops_cleanly_with_exit_130_and_writes_the_partial_index()
    {
        var videos = Path.Combine(_root, "videos");
        for (var i = 0; i < 8; i++)
        {
            TestVideos.MakeMp4(Path.Combine(videos, $"t{i:D2}.mp4"), 1.0, hue: i * 45);
        }

        var output = Path.Combine(_root, "out");
        using var run = TempmeCli.Start("index", videos, "--out", output, "--model", "random:vit-b32", "--shard-size", "2", "--batch", "2");
        var log = new System.Text.StringBuilder();
        run.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        run.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        run.BeginOutputReadLine();
        run.BeginErrorReadLine();
        var firstPart = Path.Combine(output, "embeddings", "part-00000.jsonl");
        while (!File.Exists(firstPart))
        {
            Assert.False(run.HasExited, "the run finished before it could be stopped: " + log);
            await Task.Delay(20);
        }

        TestVideos.Run("kill", "-TERM", run.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await run.WaitForExitAsync(limit.Token); // hanging here is the failure this test guards against
        Assert.True(run.ExitCode == 130, $"exit code {run.ExitCode}: {log}");

        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(output, "index.json")));
        var counts = index.RootElement.GetProperty("counts");
        Assert.Equal(8, counts.GetProperty("videos").GetInt32());
        Assert.True(counts.GetProperty("pending").GetInt32() > 0, "nothing was left to do after SIGTERM");
        Assert.Equal(8, counts.GetProperty("indexed").GetInt32() + counts.GetProperty("pending").GetInt32());
    }

    private static long DoneCount(string ledgerPath)
    {
        if (!File.Exists(ledgerPath))
        {
            return 0;
        }

        try
        {
            // Read-write mode so the reader can use the WAL index; this connection only reads.
            using var connection = new SqliteConnection($"Data Source={ledgerPath};Pooling=False");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM videos WHERE state = 'done'";
            return (long)command.ExecuteScalar()!;
        }
        catch (SqliteException e) when (e.Message.Contains("no such table", StringComparison.Ordinal))
        {
            return 0; // The schema is still being created.
        }
    }
}
