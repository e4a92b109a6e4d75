using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>
/// Runs on every coordinator silo: when the cluster declares a silo dead, every lease held by a worker in that silo
/// ends at once and its shards go back to the queue, without waiting for the lease to run out. Leases remain the
/// fallback for a worker that is alive but stuck (the silo's lease sweeper). Several coordinators doing this for
/// the same dead silo is harmless: the second finds no lease left.
/// </summary>
internal sealed partial class DeadSiloRequeuer(IClusterMembershipService membership, PostgresLedger ledger, ILogger<DeadSiloRequeuer> logger) : BackgroundService
{
    private readonly HashSet<SiloAddress> _handled = [];

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                // Silos that left the table (defunct entries are cleaned up after days) need no memory any more.
                _handled.IntersectWith(snapshot.Members.Keys);
                var dead = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead && !_handled.Contains(m.SiloAddress)).ToList();
                if (dead.Count > 0)
                {
                    await RequeueAsync(dead, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RequeueAsync(IReadOnlyList<ClusterMember> dead, CancellationToken stoppingToken)
    {
        // A database outage must not lose the event: keep trying until it answers (or the silo stops).
        for (var delay = TimeSpan.FromSeconds(1); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks)))
        {
            try
            {
                var ended = await ledger.ExpireLeasesOfSilosAsync(dead.Select(m => m.SiloAddress.ToParsableString()).ToList(), stoppingToken);
                foreach (var member in dead)
                {
                    _handled.Add(member.SiloAddress);
                }

                if (ended > 0)
                {
                    LogRequeued(logger, ended, string.Join(", ", dead.Select(m => m.Name + " " + m.SiloAddress)));
                }

                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogRequeueFailed(logger, delay.TotalSeconds, SecretRedaction.Redact(e.Message));
                await Task.Delay(delay, stoppingToken);
            }
        }
    }

    [LoggerMessage(5010, LogLevel.Information, "Requeued {Count} shard(s) held in silo(s) the cluster declared dead: {Silos}")]
    private static partial void LogRequeued(ILogger logger, int count, string silos);

    [LoggerMessage(5011, LogLevel.Warning, "Cannot requeue the shards of a dead silo yet (retrying in {DelaySeconds:0} s): {Message}")]
    private static partial void LogRequeueFailed(ILogger logger, double delaySeconds, string message);
}
