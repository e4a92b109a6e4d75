using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Hosting;
using TempMe.Pipeline.Indexing;
using TempMe.Pipeline.Indexing.Output;

namespace TempMe.Pipeline.Dashboard;

/// <summary>What <c>tempme index --dashboard</c> shows about its run.</summary>
/// <param name="Source">The source folder or list.</param>
/// <param name="Output">The output folder.</param>
/// <param name="Model">The model spec.</param>
/// <param name="LedgerPath">The SQLite ledger, read (read-only) for failures.</param>
internal sealed record IndexDashboardInfo(string Source, string Output, string Model, string LedgerPath);

/// <summary>
/// The dashboard of a single-machine run: a small Kestrel app inside <c>tempme index</c> serving the silo's page and
/// the same snapshot shape (one job, <c>local</c>, and one worker, this process) from <see cref="PipelineCounters"/>,
/// with failures read from the SQLite ledger. Cancel and retry are not offered (Ctrl-C and a rerun do that).
/// </summary>
internal sealed class IndexDashboard : IAsyncDisposable
{
    /// <summary>The job id the page shows for the run.</summary>
    public const string JobId = "local";

    private readonly IndexDashboardInfo _info;
    private readonly DashboardState _state = new();
    private readonly RateHistory _rate = new(TimeSpan.FromSeconds(10));
    private readonly RateHistory _workerRate = new(TimeSpan.FromSeconds(10), maxPoints: 2);
    private readonly DateTimeOffset _created = DateTimeOffset.UtcNow;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly Search.IndexSearchService _search = new();
    private WebApplication? _app;
    private Task _loop = Task.CompletedTask;
    private PipelineCounters? _counters;
    private LedgerCounts? _before;
    private DateTimeOffset? _started;
    private DateTimeOffset? _finished;
    private string _phase = "queued";
    private IReadOnlyList<DashboardError> _errors = [];
    private long _errorsFailed = -1;

    private IndexDashboard(IndexDashboardInfo info) => _info = info;

    /// <summary>The listen address, <c>HOST:PORT</c>.</summary>
    public string Endpoint { get; private set; } = "";

    /// <summary>Starts listening on <paramref name="endpoint"/> (<c>127.0.0.1:PORT</c> or a URL).</summary>
    public static async Task<IndexDashboard> StartAsync(string endpoint, IndexDashboardInfo info, ILogger logger, CancellationToken cancellationToken)
    {
        var url = endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint;
        var dashboard = new IndexDashboard(info) { Endpoint = endpoint };
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        builder.Services.AddSingleton(dashboard._state);
        builder.AddTempMeDefaults("tempme-index", _ => new TempMeReadiness { IsReadyAsync = _ => Task.FromResult(true) });
        var app = builder.Build();
        app.MapTempMeDefaults();
        DashboardEndpoints.Map(app);
        app.MapGet("/api/jobs/{id}/failures", (string id, HttpContext context) => dashboard.FailuresAsync(id, context));
        app.MapGet("/api/jobs/{id}/search", (string id, HttpContext context, CancellationToken ct) => dashboard.SearchAsync(id, context, ct));
        app.MapGet("/api/jobs/{id}/thumbnails/{file}", (string id, string file, HttpContext context, CancellationToken ct) => dashboard.ThumbnailAsync(id, file, context, ct));
        dashboard.Publish();
        await app.StartAsync(cancellationToken);
        dashboard._app = app;
        dashboard._loop = dashboard.LoopAsync(dashboard._stop.Token);
        IndexDashboardLog.LogInformationIndexDashboard(logger, endpoint);
        return dashboard;
    }

    /// <summary>The run started: its live counters and the ledger counts before it.</summary>
    public void Attach(PipelineCounters counters, LedgerCounts before)
    {
        lock (_lock)
        {
            _counters = counters;
            _before = before;
            _started = DateTimeOffset.UtcNow;
            _phase = "running";
        }
    }

    /// <summary>The run ended.</summary>
    public void Finish(bool cancelled)
    {
        lock (_lock)
        {
            _finished = DateTimeOffset.UtcNow;
            _phase = cancelled ? "cancelled" : "completed";
        }

        Publish();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        if (_app is not null)
        {
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }

        _stop.Dispose();
        _search.Dispose();
    }

    /// <summary>Text search over this run's output once it has finished (the index is not complete before).</summary>
    private async Task<IResult> SearchAsync(string id, HttpContext context, CancellationToken cancellationToken)
    {
        var (request, problem) = Search.SearchRequest.Parse(context.Request);
        if (problem is not null)
        {
            return problem;
        }

        if (id != JobId)
        {
            return Results.Problem(title: "job not found", detail: $"This dashboard shows one run, '{JobId}'; there is no job '{id}'.", statusCode: StatusCodes.Status404NotFound);
        }

        bool finished;
        lock (_lock)
        {
            finished = _finished is not null && _phase == "completed";
        }

        if (!finished)
        {
            return Results.Problem(title: "index not finished", detail: $"This run is {_phase}; its index can be searched once it has completed (or with tempme search {_info.Output}).", statusCode: StatusCodes.Status409Conflict);
        }

        var root = Path.GetFullPath(_info.Output);
        return await _search.SearchAsync(JobId, new Storage.LocalFolderStore(root), root, _info.Model, request!, cancellationToken);
    }

    /// <summary>A search result's thumbnail from this run's output folder.</summary>
    private async Task<IResult> ThumbnailAsync(string id, string file, HttpContext context, CancellationToken cancellationToken)
    {
        var (sha, problem) = Search.ThumbnailResponses.Parse(file);
        if (problem is not null)
        {
            return problem;
        }

        if (id != JobId)
        {
            return Results.Problem(title: "job not found", detail: $"This dashboard shows one run, '{JobId}'; there is no job '{id}'.", statusCode: StatusCodes.Status404NotFound);
        }

        return await Search.ThumbnailResponses.ServeAsync(new Storage.LocalFolderStore(Path.GetFullPath(_info.Output)), sha!, context, cancellationToken);
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Publish();
        }
    }

    private void Publish()
    {
        try
        {
            _state.Publish(Build());
        }
        catch (Exception e) when (e is SqliteException or IOException or InvalidOperationException)
        {
            var previous = _state.Latest;
            if (previous is not null)
            {
                _state.Publish(previous with { Generated = DateTimeOffset.UtcNow, Ok = false, Error = "cannot read the ledger: " + e.Message });
            }
        }
    }

    private DashboardSnapshot Build()
    {
        var now = DateTimeOffset.UtcNow;
        PipelineCounters? c;
        LedgerCounts? before;
        DateTimeOffset? started;
        DateTimeOffset? finished;
        string phase;
        lock (_lock)
        {
            (c, before, started, finished, phase) = (_counters, _before, _started, _finished, _phase);
        }

        var total = before?.Total ?? 0;
        var done = Math.Min(total, (before?.Done ?? 0) + (c?.Done ?? 0));
        var failed = Math.Min(total - done, (before?.Failed ?? 0) + (c?.Failed ?? 0));
        var pending = Math.Max(0, total - done - failed);
        var running = Math.Min(pending, Math.Max(0, (c?.Claimed ?? 0) - (c?.Settled ?? 0)));
        var state = phase == "completed" ? (failed > 0 ? "completed_with_failures" : "completed") : phase;
        var terminal = finished is not null;
        var settled = (c?.Done ?? 0) + (c?.Failed ?? 0);
        var rate = _rate.Add(now, settled);
        var workerRate = _workerRate.Add(now, settled, record: false);
        double? eta = terminal ? 0 : null;
        if (!terminal && started is { } since)
        {
            var speed = rate > 0 ? rate : settled / Math.Max(1e-3, (now - since).TotalSeconds);
            eta = speed > 0 ? Math.Round(pending / speed, 1) : null;
        }

        if (failed != _errorsFailed && failed > 0)
        {
            _errors = ReadTopErrors();
            _errorsFailed = failed;
        }

        var job = new DashboardJob(JobId, state, _info.Source, _info.Output, AddressSecrets.Redact(_info.Model), total, done, failed, running, Math.Max(0, pending - running),
            0, 0, Math.Round(terminal ? 0 : rate, 3), eta, _created, started, finished, null, failed > 0 ? _errors : [], _rate.Points());
        var fetch = c?.FetchSeconds ?? 0;
        var worker = new DashboardWorker(
            $"{Environment.MachineName}:{Environment.ProcessId}", Environment.MachineName, _created, now, 0, false, terminal ? null : JobId, null,
            c?.Done ?? 0, c?.Failed ?? 0, Math.Round(terminal ? 0 : workerRate, 3), null,
            new DashboardSplit(Math.Round(fetch, 3), Math.Round(Math.Max(0, (c?.DecodeSeconds ?? 0) - fetch), 3), Math.Round(c?.EncodeSeconds ?? 0, 3), Math.Round(c?.UploadSeconds ?? 0, 3)));
        return new DashboardSnapshot("index", now, true, null, false,
            new DashboardTotals(Math.Round(terminal ? 0 : rate, 3), 0, terminal ? 0 : (running > 0 ? 1 : 0), 0, 0, 1, _rate.Points()),
            [job], [worker]);
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _info.LedgerPath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var timeout = connection.CreateCommand();
        timeout.CommandText = "PRAGMA busy_timeout = 2000";
        timeout.ExecuteNonQuery();
        return connection;
    }

    private List<DashboardError> ReadTopErrors()
    {
        if (!File.Exists(_info.LedgerPath))
        {
            return [];
        }

        using var connection = Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = """
            SELECT COALESCE(error_code, 'internal'), count(*), min(source) FROM videos
            WHERE listed = 1 AND state = 'failed' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5
            """;
        using var reader = cmd.ExecuteReader();
        var rows = new List<DashboardError>();
        while (reader.Read())
        {
            rows.Add(new DashboardError(reader.GetString(0), reader.GetInt64(1), reader.GetString(2)));
        }

        return rows;
    }

    private async Task<IResult> FailuresAsync(string id, HttpContext context)
    {
        var (paging, problem) = FailurePaging.Parse(context.Request);
        if (problem is not null)
        {
            return problem;
        }

        if (id != JobId)
        {
            return Results.Problem(title: "job not found", detail: $"This dashboard shows one run, '{JobId}'; there is no job '{id}'.", statusCode: StatusCodes.Status404NotFound);
        }

        return await paging!.AnswerAsync(context, (after, limit, _) => Task.FromResult<IReadOnlyList<(long, FailureRow)>>(ReadFailures(after, limit)));
    }

    /// <summary>Final failures with a video id above <paramref name="after"/>, in id order (keyset paging).</summary>
    private List<(long Id, FailureRow Row)> ReadFailures(long after, int limit)
    {
        var rows = new List<(long, FailureRow)>();
        if (!File.Exists(_info.LedgerPath))
        {
            return rows;
        }

        using var connection = Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT id, source, error_code, error_message, attempts FROM videos WHERE listed = 1 AND state = 'failed' AND id > $after ORDER BY id LIMIT $limit";
        cmd.Parameters.AddWithValue("$after", after);
        cmd.Parameters.AddWithValue("$limit", limit);
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            rows.Add((reader.GetInt64(0), new FailureRow
            {
                Source = reader.GetString(1), ErrorCode = reader.IsDBNull(2) ? "internal" : reader.GetString(2),
                Message = reader.IsDBNull(3) ? "" : reader.GetString(3), Attempts = reader.GetInt32(4),
            }));
        }

        return rows;
    }
}

/// <summary>Log messages of the single-machine dashboard (event ids 5050-5069, shared with the silo's dashboard).</summary>
internal static partial class IndexDashboardLog
{
    [LoggerMessage(5051, LogLevel.Information, "Dashboard for this run on http://{Endpoint}/")]
    public static partial void LogInformationIndexDashboard(ILogger logger, string endpoint);
}
