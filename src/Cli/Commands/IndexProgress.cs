using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Indexing;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>
/// Shows an index run's progress: a live bar on a terminal, plain periodic lines when output is redirected
/// (logs and CI keep readable text instead of control sequences).
/// </summary>
internal sealed class IndexProgress(double plainIntervalSeconds)
{
    private PipelineCounters? _counters;
    private LedgerCounts? _before;

    /// <summary>Runs <paramref name="run"/> while showing its progress.</summary>
    public async Task<T> RunAsync<T>(Func<Action<PipelineCounters, LedgerCounts>, Task<T>> run)
    {
        var interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var work = run((counters, before) =>
        {
            _counters = counters;
            _before = before;
        });
        var display = interactive ? ShowBarAsync(work, clock) : ShowLinesAsync(work, clock, stop.Token);
        try
        {
            return await work;
        }
        finally
        {
            await stop.CancelAsync();
            await display;
        }
    }

    private async Task ShowBarAsync(Task work, Stopwatch clock)
    {
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("indexing", maxValue: 1);
                while (!work.IsCompleted)
                {
                    Update(task, clock);
                    await Task.WhenAny(work, Task.Delay(250));
                }

                Update(task, clock);
            });
    }

    private void Update(ProgressTask task, Stopwatch clock)
    {
        if (_counters is not { } c || _before is not { } before)
        {
            return;
        }

        task.MaxValue = Math.Max(1, before.Total);
        task.Value = Math.Min(task.MaxValue, before.Done + before.Failed + c.Done + c.Failed);
        task.Description = Line(c, before, clock, c.Done + c.Failed);
    }

    private async Task ShowLinesAsync(Task work, Stopwatch clock, CancellationToken stop)
    {
        var interval = TimeSpan.FromSeconds(Math.Max(0.2, plainIntervalSeconds));
        try
        {
            while (!work.IsCompleted)
            {
                await Task.WhenAny(work, Task.Delay(interval, stop));
                if (_counters is { } c && _before is { } before && !work.IsCompleted)
                {
                    await Console.Out.WriteLineAsync(Line(c, before, clock, c.Done + c.Failed));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static string Line(PipelineCounters c, LedgerCounts before, Stopwatch clock, long finished)
    {
        var seconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
        var rate = finished / seconds;
        var left = Math.Max(0, before.Pending - finished);
        var eta = rate > 0 ? TimeSpan.FromSeconds(left / rate).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "--:--:--";
        return string.Create(CultureInfo.InvariantCulture,
            $"done {before.Done + c.Done}/{before.Total}, failed {before.Failed + c.Failed}, {rate:0.00} videos/s, ETA {eta}");
    }
}
