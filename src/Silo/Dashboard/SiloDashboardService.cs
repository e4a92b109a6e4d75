using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Dashboard;
using TempMe.Pipeline.Indexing;

namespace TempMe.Pipeline.Silo.Dashboard;

/// <summary>
/// Reads jobs, workers and queue figures from PostgreSQL once a second (one reader however many browsers are open),
/// publishes the dashboard snapshot, and serves the queue gauges (<c>tempme_queue_depth</c> and friends) from it.
/// </summary>
internal sealed class SiloDashboardService : BackgroundService
{
    /// <summary>Workers silent longer than this are shown as stale.</summary>
    internal static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(90);

    private const int JobLimit = 50;
    private readonly SiloOptions _options;
    private readonly DashboardState _state;
    private readonly ILogger<SiloDashboardService> _logger;
    private readonly Meter _meter = new(TelemetryNames.MeterName, "1.0");
    private readonly RateHistory _total = new(TimeSpan.FromSeconds(15));
    private readonly Dictionary<string, RateHistory> _jobRates = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RateHistory> _workerRates = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Failed, IReadOnlyList<DashboardError> Errors)> _topErrors = new(StringComparer.Ordinal);
    private DashboardQueue? _queue;
    private long _ledgerDone;
    private long _ledgerFailed;

    /// <summary>Creates the service and its gauges.</summary>
    public SiloDashboardService(SiloOptions options, DashboardState state, ILogger<SiloDashboardService> logger)
    {
        _options = options;
        _state = state;
        _logger = logger;
        _meter.CreateObservableGauge("tempme.queue.depth", () => Gauge(q => q.QueueDepth), "{shard}", "Shards of running jobs waiting for a worker: queued plus leased with an expired lease.");
        _meter.CreateObservableGauge("tempme.active.leases", () => Gauge(q => q.ActiveLeases), "{shard}", "Shards of running jobs held under a live lease.");
        _meter.CreateObservableGauge("tempme.lease.expirations", () => Gauge(q => q.ExpiredLeases), "{shard}", "Leases of running jobs that ran out and are not taken back yet.");
        _meter.CreateObservableGauge("tempme.retries", () => Gauge(q => q.Retries), "{claim}", "Shard claims of running jobs beyond each shard's first (after lease expiry, hand-back or a retryable failure).");
        _meter.CreateObservableCounter("tempme.ledger.videos.done", () => Interlocked.Read(ref _ledgerDone), "{video}", "Embedded videos of the jobs shown on the dashboard, from the ledger.");
        _meter.CreateObservableCounter("tempme.ledger.videos.failed", () => Interlocked.Read(ref _ledgerFailed), "{video}", "Failed videos of the jobs shown on the dashboard, from the ledger.");
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var queries = DashboardQueries.Create(_options.ConnectionString);
        var lastError = "";
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var data = await queries.ReadAsync(JobLimit, stoppingToken);
                await RefreshTopErrorsAsync(queries, data, stoppingToken);
                _state.Publish(Build(data));
                lastError = "";
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var message = SecretRedaction.Redact(e.Message);
                if (message != lastError)
                {
                    DashboardLog.LogWarningReadFailed(_logger, message);
                    lastError = message;
                }

                var previous = _state.Latest;
                _state.Publish(previous is null
                    ? new DashboardSnapshot("silo", DateTimeOffset.UtcNow, false, "cannot read PostgreSQL: " + message, _options.ApiToken is not null, new DashboardTotals(0, 0, 0, 0, 0, 0, []), [], [])
                    : previous with { Generated = DateTimeOffset.UtcNow, Ok = false, Error = "cannot read PostgreSQL: " + message });
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private IEnumerable<Measurement<long>> Gauge(Func<DashboardQueue, long> pick) =>
        _queue is { } queue ? [new Measurement<long>(pick(queue))] : [];

    private async Task RefreshTopErrorsAsync(DashboardQueries queries, DashboardData data, CancellationToken cancellationToken)
    {
        foreach (var job in data.Jobs.Where(j => j.Failed > 0))
        {
            if (_topErrors.TryGetValue(job.Id, out var known) && known.Failed == job.Failed)
            {
                continue;
            }

            var rows = await queries.ReadTopErrorsAsync(job.Id, 5, cancellationToken);
            _topErrors[job.Id] = (job.Failed, rows.Select(r => new DashboardError(r.Code, r.Count, SecretRedaction.Redact(r.Example))).ToList());
        }
    }

    private DashboardSnapshot Build(DashboardData data)
    {
        var now = data.ReadAt;
        _queue = data.Queue;
        Interlocked.Exchange(ref _ledgerDone, data.Jobs.Sum(j => j.Done));
        Interlocked.Exchange(ref _ledgerFailed, data.Jobs.Sum(j => j.Failed));
        var jobs = new List<DashboardJob>(data.Jobs.Count);
        foreach (var row in data.Jobs)
        {
            var terminal = JobStates.IsTerminal(row.State);
            if (!_jobRates.TryGetValue(row.Id, out var history))
            {
                history = new RateHistory(TimeSpan.FromSeconds(15));
                _jobRates[row.Id] = history;
            }

            // A finished job's history runs on for one window after its end (so the chart falls to zero), then stops.
            var settled = row.Done + row.Failed;
            var sample = !terminal || (row.Finished is { } finished && now - finished < TimeSpan.FromSeconds(20));
            var rate = sample ? history.Add(now, settled) : 0;
            rate = terminal ? 0 : rate;

            double? eta = terminal ? 0 : null;
            if (!terminal && row.Started is { } started)
            {
                var average = settled / Math.Max(1e-3, (now - started).TotalSeconds);
                var speed = rate > 0 ? rate : average;
                eta = speed > 0 ? Math.Round(row.Pending / speed, 1) : null;
            }

            var errors = row.Failed > 0 && _topErrors.TryGetValue(row.Id, out var top) ? top.Errors : [];
            jobs.Add(new DashboardJob(
                row.Id, row.State, TempMe.Pipeline.Grains.Coordination.CorpusListing.Display(row.Source), TempMe.Pipeline.Grains.Coordination.CorpusListing.Display(row.Output), AddressSecrets.Redact(row.Model),
                row.Total, row.Done, row.Failed, Math.Min(row.Running, row.Pending), Math.Max(0, row.Pending - row.Running),
                row.ShardsTotal, row.ShardsDone, Math.Round(rate, 3), eta, row.Created, row.Started, row.Finished, row.Message, errors, history.Points()));
        }

        var shown = data.Jobs.Select(j => j.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in _jobRates.Keys.Where(k => !shown.Contains(k)).ToList())
        {
            _jobRates.Remove(gone);
            _topErrors.Remove(gone);
        }

        var workers = new List<DashboardWorker>(data.Workers.Count);
        foreach (var row in data.Workers)
        {
            if (!_workerRates.TryGetValue(row.Id, out var history))
            {
                history = new RateHistory(TimeSpan.FromSeconds(60), maxPoints: 2);
                _workerRates[row.Id] = history;
            }

            var age = Math.Max(0, (now - row.LastHeartbeat).TotalSeconds);
            var stale = age > StaleAfter.TotalSeconds;
            var rate = stale ? 0 : history.Add(row.LastHeartbeat, row.VideosDone + row.VideosFailed, record: false);
            workers.Add(new DashboardWorker(
                row.Id, row.Host, row.Started, row.LastHeartbeat, Math.Round(age, 1), stale, row.CurrentJob, row.CurrentShard,
                row.VideosDone, row.VideosFailed, Math.Round(rate, 3), row.ShardsDone,
                new DashboardSplit(row.DownloadSeconds, row.DecodeSeconds, row.EncodeSeconds, row.UploadSeconds)));
        }

        var totalRate = _total.Add(now, data.Jobs.Sum(j => j.Done + j.Failed));
        return new DashboardSnapshot("silo", now, true, null, _options.ApiToken is not null,
            new DashboardTotals(Math.Round(totalRate, 3), data.Queue.QueueDepth, data.Queue.ActiveLeases, data.Queue.ExpiredLeases, data.Queue.Retries,
                workers.Count(w => !w.Stale), _total.Points()),
            jobs, workers);
    }
}

/// <summary>Dashboard log messages (event ids 5050-5069).</summary>
internal static partial class DashboardLog
{
    [LoggerMessage(5050, LogLevel.Warning, "Dashboard cannot read the ledger (will retry every second): {Message}")]
    public static partial void LogWarningReadFailed(ILogger logger, string message);
}
