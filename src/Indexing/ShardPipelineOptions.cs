namespace TempMe.Pipeline.Indexing;

/// <summary>How a <see cref="ShardPipeline"/> runs.</summary>
public sealed record ShardPipelineOptions
{
    /// <summary>Identity written into leases (host and process, for the dashboard).</summary>
    public string WorkerId { get; init; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>Concurrent ffmpeg decoders.</summary>
    public int Decoders { get; init; } = 2;

    /// <summary>Videos per encoder call.</summary>
    public int BatchSize { get; init; } = 4;

    /// <summary>Shards held at once, so decoding of the next shard overlaps the end of the current one.</summary>
    public int ShardsInFlight { get; init; } = 2;

    /// <summary>Lease length; a worker silent for this long loses its shards to others.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Interval between lease renewals; well below <see cref="Lease"/>.</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts after which a retryable failure is final.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Return when no shard is left (single machine) instead of waiting for more (worker).</summary>
    public bool StopWhenIdle { get; init; } = true;

    /// <summary>How long an idle worker waits before asking for work again.</summary>
    public TimeSpan IdlePoll { get; init; } = TimeSpan.FromSeconds(2);
}
