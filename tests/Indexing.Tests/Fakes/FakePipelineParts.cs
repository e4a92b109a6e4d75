using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Indexing.Tests.Fakes;

/// <summary>
/// What a test of the shard pipeline alone starts from: in-memory fakes of the fetcher, sampler, encoder and store, and
/// a pipeline over them with small settings (two decoders, batches of two, two shards in flight).
/// </summary>
public abstract class FakePipelineParts : IDisposable
{
    /// <summary>How long a fact may wait for a run: they take milliseconds, so this only turns a hang into a failure.</summary>
    protected static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    /// <summary>The sources' bytes.</summary>
    private protected FakeSourceFetcher Fetcher { get; } = new();

    /// <summary>Frames made from the bytes.</summary>
    private protected FakeFrameSampler Sampler { get; } = new();

    /// <summary>Embeddings made from the frames.</summary>
    private protected FakeVideoEncoder Encoder { get; } = new();

    /// <summary>The output store: parts and thumbnails.</summary>
    private protected InMemoryBlobStore Store { get; } = new();

    /// <summary>The settings of <see cref="Pipeline"/> unless a test gives its own.</summary>
    protected static ShardPipelineOptions Options() => new()
    {
        WorkerId = "test", Decoders = 2, BatchSize = 2, ShardsInFlight = 2, MaxAttempts = 2,
        Lease = TimeSpan.FromMinutes(5), Heartbeat = TimeSpan.FromMinutes(1), IdlePoll = TimeSpan.FromMilliseconds(10),
    };

    /// <summary>A pipeline over <paramref name="ledger"/> and the fakes.</summary>
    protected ShardPipeline Pipeline(IShardLedger ledger, ShardPipelineOptions? options = null) =>
        new(ledger, Fetcher, Sampler, Encoder, Store, Encoder.Sampling, options ?? Options());

    /// <inheritdoc />
    public void Dispose()
    {
        Fetcher.Dispose();
        GC.SuppressFinalize(this);
    }
}
