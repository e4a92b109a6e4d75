using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Grains.Coordination;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Silo;

/// <summary>
/// The coordinator silo's own periodic work besides the grains:
/// <list type="bullet">
/// <item>the lease sweeper, the fallback for a worker that is alive but stuck (a dead worker silo's shards are requeued
/// at once through membership by <c>DeadSiloRequeuer</c>);</item>
/// <item>a reconciliation pass that starts the grain of every job that is due for listing or manifests, so a job whose
/// grain was never reached (the silo died between accepting the job and starting its grain, or the database was away
/// when the reminder was to be registered) still runs.</item>
/// </list>
/// Every coordinator silo runs both; they are safe to run together (row locks, idempotent grain starts).
/// </summary>
internal sealed class SiloBackgroundService(PostgresLedger ledger, IGrainFactory grains, SiloOptions options, ILogger<SiloBackgroundService> logger) : BackgroundService
{
    private static readonly TimeSpan ReconcileInterval = TimeSpan.FromSeconds(15);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.WhenAll(
            LoopAsync("lease sweep", options.SweepInterval, SweepAsync, stoppingToken),
            LoopAsync("reconciliation", ReconcileInterval, ReconcileAsync, stoppingToken));
    }

    private async Task LoopAsync(string name, TimeSpan interval, Func<CancellationToken, Task> pass, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await pass(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                SiloLog.LogWarningBackgroundFailed(logger, name + ": " + SecretRedaction.Redact(e.Message));
            }

            try
            {
                await Task.Delay(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        var swept = await ledger.SweepExpiredLeasesAsync(cancellationToken);
        if (swept > 0)
        {
            SiloLog.LogInformationSwept(logger, swept);
        }
    }

    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var due = (await ledger.ListQueuedJobIdsAsync(cancellationToken)).Concat(await ledger.ListJobsNeedingManifestAsync(cancellationToken));
        foreach (var jobId in due)
        {
            await grains.GetGrain<ICorpusJobGrain>(jobId).StartAsync().WaitAsync(cancellationToken);
        }
    }
}
