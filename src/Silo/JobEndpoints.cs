using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Grains.Coordination;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Dashboard;
using TempMe.Pipeline.Dashboard.Search;
using TempMe.Pipeline.Storage;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Silo;

/// <summary>The silo's HTTP API: jobs, failures, cancel, retry (health, readiness and metrics come from <c>MapTempMeDefaults</c>).</summary>
internal static class JobEndpoints
{
    /// <summary>Maps every endpoint.</summary>
    public static void Map(WebApplication app)
    {
        // /healthz, /readyz and /metrics: TempMeHostingExtensions.MapTempMeDefaults (SiloHost).
        var api = app.MapGroup("/api/jobs");
        api.MapGet("/", async (PostgresLedger ledger, CancellationToken ct) =>
            Results.Json((await ledger.ListJobsAsync(200, ct)).Select(JobView.From).ToList(), ApiJson.Options));
        api.MapGet("/{id}", async (string id, PostgresLedger ledger, CancellationToken ct) =>
            await ledger.GetJobAsync(id, ct) is { } job ? Results.Json(JobView.From(job), ApiJson.Options) : NotFound(id));
        api.MapGet("/{id}/failures", FailuresAsync);
        api.MapGet("/{id}/search", SearchAsync);
        api.MapGet("/{id}/thumbnails/{file}", ThumbnailAsync);

        api.MapPost("/", SubmitAsync).AddEndpointFilter(RequireToken);
        // Changes go through the job's grain, which owns the job's state machine; reads go straight to PostgreSQL.
        api.MapPost("/{id}/cancel", async (string id, PostgresLedger ledger, IGrainFactory grains, CancellationToken ct) =>
        {
            if (await ledger.GetJobAsync(id, ct) is not { } job)
            {
                return NotFound(id);
            }

            if (!await grains.GetGrain<ICorpusJobGrain>(id).CancelAsync().WaitAsync(ct))
            {
                return Results.Problem(title: "job already finished", detail: $"Job {id} is {job.State}; only queued or running jobs can be cancelled.", statusCode: StatusCodes.Status409Conflict);
            }

            return Results.Json(new { id, state = JobStates.Cancelled }, ApiJson.Options);
        }).AddEndpointFilter(RequireToken);
        api.MapPost("/{id}/retry-failed", async (string id, PostgresLedger ledger, IGrainFactory grains, CancellationToken ct) =>
        {
            if (await ledger.GetJobAsync(id, ct) is null)
            {
                return NotFound(id);
            }

            var requeued = await grains.GetGrain<ICorpusJobGrain>(id).RetryFailedAsync().WaitAsync(ct);
            return Results.Json(new { id, requeued }, ApiJson.Options);
        }).AddEndpointFilter(RequireToken);
    }

    /// <summary>A page of failures as JSON (with <c>Link: rel="next"</c> when more may follow), or all of them as streamed JSONL.</summary>
    private static async Task<IResult> FailuresAsync(string id, HttpContext context, PostgresLedger ledger, CancellationToken ct)
    {
        var (paging, problem) = FailurePaging.Parse(context.Request);
        if (problem is not null)
        {
            return problem;
        }

        if (await ledger.GetJobAsync(id, ct) is null)
        {
            return NotFound(id);
        }

        // Each page is its own ledger call: no connection is held while the client reads.
        return await paging!.AnswerAsync(context, async (after, limit, token) =>
            (await ledger.ListFailuresPageAsync(id, after, limit, token)).Select(r => (r.VideoId, Row(r.Failure))).ToList());
    }

    /// <summary>Text search over a finished job's output, with the job's model.</summary>
    private static async Task<IResult> SearchAsync(string id, HttpContext context, PostgresLedger ledger, IndexSearchService search, CancellationToken ct)
    {
        var (request, problem) = SearchRequest.Parse(context.Request);
        if (problem is not null)
        {
            return problem;
        }

        if (await ledger.GetJobForWorkAsync(id, ct) is not { } job)
        {
            return NotFound(id);
        }

        if (job.State is not (JobStates.Completed or JobStates.CompletedWithFailures))
        {
            return Results.Problem(title: "index not finished", detail: $"Job {id} is {job.State}; its index can be searched once the job has completed.", statusCode: StatusCodes.Status409Conflict);
        }

        var (store, localRoot) = IndexSearchService.OpenStore(job.Spec.Output);
        return await search.SearchAsync(id, store, localRoot, job.Spec.Model, request!, ct);
    }

    /// <summary>A search result's thumbnail from the job's output (any job state: a thumbnail, once written, never changes).</summary>
    private static async Task<IResult> ThumbnailAsync(string id, string file, HttpContext context, PostgresLedger ledger, CancellationToken ct)
    {
        var (sha, problem) = ThumbnailResponses.Parse(file);
        if (problem is not null)
        {
            return problem;
        }

        if (await ledger.GetJobForWorkAsync(id, ct) is not { } job)
        {
            return NotFound(id);
        }

        var (store, _) = IndexSearchService.OpenStore(job.Spec.Output);
        return await ThumbnailResponses.ServeAsync(store, sha!, context, ct);
    }

    private static FailureRow Row(Ledger.FailureRecord f) => new() { Source = f.Source, ErrorCode = f.ErrorCode, Message = f.Message, Attempts = f.Attempts };

    private static async Task<IResult> SubmitAsync(HttpRequest request, PostgresLedger ledger, IGrainFactory grains, SiloOptions options, ILoggerFactory loggers, CancellationToken ct)
    {
        JsonElement body;
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
            body = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            return Invalid("body", $"The request body is not valid JSON ({e.Message}); send {{\"source\":..., \"output\":..., \"model\":...}}.");
        }

        if (body.ValueKind != JsonValueKind.Object)
        {
            return Invalid("body", "The request body must be a JSON object with source, output and model.");
        }

        var validation = JobSpecValidator.Validate(body, options);
        if (validation.Errors.Count > 0)
        {
            return Results.ValidationProblem(validation.Errors, detail: string.Join(" ", validation.Errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")), title: "invalid job");
        }

        // One job per output at a time: a second one would overwrite the first one's parts and manifests.
        var created = await ledger.CreateJobAsync(validation.Spec!, OutputKey.Of(validation.Spec!.Output), ct);
        if (created.Id is not { } id)
        {
            return Results.Problem(
                title: "output in use",
                detail: $"Job {created.ClashingJobId} is still writing to {CorpusListing.Display(validation.Spec.Output)} (the same place, one inside it or one around it); wait for it to finish, cancel it, or choose another --out.",
                statusCode: StatusCodes.Status409Conflict);
        }

        var logger = loggers.CreateLogger("TempMe.Pipeline.Silo.Jobs");
        SiloLog.LogInformationSubmitted(logger, id, CorpusListing.Display(validation.Spec!.Source), CorpusListing.Display(validation.Spec.Output));
        try
        {
            // The job's grain registers its reminder and starts listing; the job row is already durable.
            await grains.GetGrain<ICorpusJobGrain>(id).StartAsync().WaitAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException && e is not OutOfMemoryException)
        {
            // The silo's reconciliation pass starts every queued job whose grain was not reached.
            SiloLog.LogWarningBackgroundFailed(logger, $"starting job {id}: {SecretRedaction.Redact(e.Message)} (it starts on the next reconciliation pass)");
        }

        return Results.Json(new { id }, ApiJson.Options, statusCode: StatusCodes.Status202Accepted);
    }

    private static async ValueTask<object?> RequireToken(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var options = context.HttpContext.RequestServices.GetService(typeof(SiloOptions)) as SiloOptions;
        if (string.IsNullOrEmpty(options?.ApiToken))
        {
            return Results.Problem(title: "API token not configured", detail: $"This silo has no API token, so it refuses changes: start it with the environment variable {SiloOptions.ApiTokenVariable} set, and send 'Authorization: Bearer <token>'.", statusCode: StatusCodes.Status403Forbidden);
        }

        var header = context.HttpContext.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Results.Problem(title: "unauthorized", detail: $"Send 'Authorization: Bearer <token>' with the token from {SiloOptions.ApiTokenVariable}.", statusCode: StatusCodes.Status401Unauthorized);
        }

        var given = Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim());
        var expected = Encoding.UTF8.GetBytes(options.ApiToken);
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(given), SHA256.HashData(expected)))
        {
            return Results.Problem(title: "forbidden", detail: "The bearer token is wrong.", statusCode: StatusCodes.Status403Forbidden);
        }

        return await next(context);
    }

    private static IResult NotFound(string id) =>
        Results.Problem(title: "job not found", detail: $"No job with id '{id}'.", statusCode: StatusCodes.Status404NotFound);

    private static IResult Invalid(string field, string message) =>
        Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, detail: $"{field}: {message}", title: "invalid job");
}

/// <summary>A job as the API shows it.</summary>
internal sealed record JobView(
    string Id, string State, DistributedJobSpec Spec, JobCounts Counts, long ShardsTotal, long ShardsDone,
    double VideosPerSecond, double? EtaSeconds, DateTimeOffset Created, DateTimeOffset? Started, DateTimeOffset? Finished, string? Message, bool ManifestWritten)
{
    public static JobView From(JobStatus job)
    {
        var end = job.Finished ?? job.ReadAt;
        var seconds = job.Started is { } started ? (end - started).TotalSeconds : 0;
        var settled = job.Done + job.Failed;
        var rate = seconds > 0 ? settled / seconds : 0;
        double? eta = JobStates.IsTerminal(job.State) ? 0 : rate > 0 ? job.Pending / rate : null;
        // The ledger stores redacted addresses; splitting again keeps a row written by an older silo from showing a SAS.
        return new JobView(job.Id, job.State, JobSecrets.Split(job.Spec).Shown, new JobCounts(job.Total, job.Pending, job.Done, job.Failed), job.ShardsTotal, job.ShardsDone,
            Math.Round(rate, 3), eta is null ? null : Math.Round(eta.Value, 1), job.Created, job.Started, job.Finished, job.Message, job.ManifestWritten);
    }
}

/// <summary>Video counts by state.</summary>
internal sealed record JobCounts(long Total, long Pending, long Done, long Failed);
