using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Silo;

/// <summary>How <c>tempme silo</c> runs. Secrets (connection string, token) are never logged or returned.</summary>
internal sealed class SiloOptions
{
    /// <summary>Environment variable holding the PostgreSQL connection string when <c>--db</c> is not given.</summary>
    public const string DatabaseVariable = "TEMPME_DB";

    /// <summary>Environment variable holding the bearer token that mutating API calls must present.</summary>
    public const string ApiTokenVariable = "TEMPME_API_TOKEN";

    /// <summary>PostgreSQL connection string.</summary>
    public required string ConnectionString { get; init; }

    /// <summary>Listen URLs (loopback by default).</summary>
    public string Urls { get; init; } = "http://127.0.0.1:8080";

    /// <summary>Interval of the lease sweeper, the listing of new jobs and the manifest writer.</summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Local folders that job sources and outputs may lie under; empty refuses every local path.</summary>
    public IReadOnlyList<string> AllowedRoots { get; init; } = [];

    /// <summary>Local folders a job's model may lie under; none leaves the check to the workers (which then refuse local models).</summary>
    public ModelRoots ModelRoots { get; init; } = ModelRoots.None;
    /// <summary>
    /// Backoff and limit for a job whose listing keeps failing transiently (then it fails); manifest writes use the same
    /// backoff and never give up.
    /// </summary>
    public JobRetryPolicy JobRetry { get; init; } = new(6, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(2));

    /// <summary>The API token; null refuses every mutating call.</summary>
    public string? ApiToken { get; init; }

    /// <summary>The Orleans cluster this coordinator silo joins.</summary>
    public TempMe.Pipeline.Grains.Cluster.ClusterIdentity Cluster { get; init; } = TempMe.Pipeline.Grains.Cluster.ClusterIdentity.Default;

    /// <summary>The silo's ports and advertised address.</summary>
    public TempMe.Pipeline.Grains.Cluster.SiloEndpoints Endpoints { get; init; } = new();

    /// <summary>The silo's name in the membership table and the Orleans dashboard.</summary>
    public string SiloName { get; init; } = $"silo-{Environment.MachineName}-{Environment.ProcessId}";
}
