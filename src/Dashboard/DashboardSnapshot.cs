using System.Text.Json;
using System.Text.Json.Serialization;

namespace TempMe.Pipeline.Dashboard;

/// <summary>
/// The JSON the dashboard page renders, pushed every second on <c>/api/events</c> and served on <c>/api/dashboard</c>.
/// The silo and <c>tempme index --dashboard</c> send the same shape, so one page serves both.
/// </summary>
/// <param name="Mode"><c>silo</c> or <c>index</c>.</param>
/// <param name="Generated">When the snapshot was taken.</param>
/// <param name="Ok">Whether the last read of the ledger succeeded.</param>
/// <param name="Error">Why it did not.</param>
/// <param name="Controls">Whether cancel and retry-failed are offered.</param>
/// <param name="Totals">Figures over all jobs.</param>
/// <param name="Jobs">Newest first.</param>
/// <param name="Workers">Most recent heartbeat first.</param>
internal sealed record DashboardSnapshot(
    string Mode, DateTimeOffset Generated, bool Ok, string? Error, bool Controls, DashboardTotals Totals,
    IReadOnlyList<DashboardJob> Jobs, IReadOnlyList<DashboardWorker> Workers)
{
    /// <summary>camelCase, nulls kept (the page tests them).</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.Never };
}

/// <summary>Figures over all jobs.</summary>
/// <param name="VideosPerSecond">Recent settle rate of all jobs.</param>
/// <param name="QueueDepth">Shards waiting for a worker (queued + expired leases).</param>
/// <param name="ActiveLeases">Shards held under a live lease.</param>
/// <param name="ExpiredLeases">Leases that ran out and are not taken back yet.</param>
/// <param name="Retries">Shard claims beyond the first.</param>
/// <param name="WorkersActive">Workers with a recent heartbeat.</param>
/// <param name="Rate">Videos/s over time: [unix seconds, rate] pairs.</param>
internal sealed record DashboardTotals(double VideosPerSecond, long QueueDepth, long ActiveLeases, long ExpiredLeases, long Retries, int WorkersActive, IReadOnlyList<double[]> Rate);

/// <summary>A job on the dashboard.</summary>
/// <param name="Id">Job id.</param>
/// <param name="State">Job state.</param>
/// <param name="Source">Source, fit for display.</param>
/// <param name="Output">Output, fit for display.</param>
/// <param name="Model">Model spec.</param>
/// <param name="Total">Listed videos.</param>
/// <param name="Done">Embedded videos.</param>
/// <param name="Failed">Failed videos.</param>
/// <param name="Running">Videos being worked on.</param>
/// <param name="Queued">Videos waiting.</param>
/// <param name="ShardsTotal">Shards.</param>
/// <param name="ShardsDone">Completed shards.</param>
/// <param name="VideosPerSecond">Recent rate.</param>
/// <param name="EtaSeconds">Estimated seconds left; null when unknown.</param>
/// <param name="Created">Submitted.</param>
/// <param name="Started">Listed.</param>
/// <param name="Finished">Terminal.</param>
/// <param name="Message">Why it failed or was cancelled.</param>
/// <param name="TopErrors">Most frequent error codes.</param>
/// <param name="Rate">Videos/s over time: [unix seconds, rate] pairs.</param>
internal sealed record DashboardJob(
    string Id, string State, string Source, string Output, string Model, long Total, long Done, long Failed, long Running, long Queued,
    long ShardsTotal, long ShardsDone, double VideosPerSecond, double? EtaSeconds, DateTimeOffset Created, DateTimeOffset? Started, DateTimeOffset? Finished,
    string? Message, IReadOnlyList<DashboardError> TopErrors, IReadOnlyList<double[]> Rate);

/// <summary>An error code of a job.</summary>
/// <param name="Code">Error code.</param>
/// <param name="Count">Failed videos.</param>
/// <param name="Example">An example video.</param>
internal sealed record DashboardError(string Code, long Count, string Example);

/// <summary>A worker on the dashboard.</summary>
/// <param name="Id">Worker id.</param>
/// <param name="Host">Host.</param>
/// <param name="Started">Process start.</param>
/// <param name="LastHeartbeat">Last report.</param>
/// <param name="HeartbeatAgeSeconds">Seconds since it.</param>
/// <param name="Stale">Whether the worker looks gone.</param>
/// <param name="CurrentJob">Job it works on.</param>
/// <param name="CurrentShard">Shard it holds.</param>
/// <param name="VideosDone">Embedded since start.</param>
/// <param name="VideosFailed">Failed since start.</param>
/// <param name="VideosPerSecond">Recent rate.</param>
/// <param name="ShardsDone">Shards completed, when known.</param>
/// <param name="Split">Seconds per stage.</param>
internal sealed record DashboardWorker(
    string Id, string Host, DateTimeOffset Started, DateTimeOffset LastHeartbeat, double HeartbeatAgeSeconds, bool Stale, string? CurrentJob, long? CurrentShard,
    long VideosDone, long VideosFailed, double VideosPerSecond, long? ShardsDone, DashboardSplit Split);

/// <summary>Seconds a worker spent per stage; download and upload are null when not recorded (then decode includes download).</summary>
/// <param name="Download">Fetching sources.</param>
/// <param name="Decode">Probing and decoding.</param>
/// <param name="Encode">Encoding.</param>
/// <param name="Upload">Writing parts.</param>
internal sealed record DashboardSplit(double? Download, double Decode, double Encode, double? Upload);
