using System.Collections.Concurrent;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;

namespace TempMe.Pipeline.Indexing.Tests.Fakes;

/// <summary>
/// A ledger in memory, for the shard pipeline's own tests: they run in milliseconds and can take a lease away from the
/// pipeline on demand, which a real ledger only does after minutes. It keeps the ledger contract
/// (<see cref="InMemoryShardLedgerContractTests"/> runs the same facts as against SQLite and PostgreSQL), with the
/// single-machine ledger's choice of not charging an attempt for an expired lease.
/// </summary>
internal sealed class InMemoryShardLedger(TimeProvider time) : IShardLedger
{
    /// <summary>The one job this ledger holds.</summary>
    public const string JobId = "memory";

    private readonly Lock _gate = new();
    private readonly List<Shard> _shards = [];
    private readonly Dictionary<string, CachedEmbedding> _cache = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _leaseLost = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Func<Task>? _onceWhenEmpty;
    private bool _cancelled;

    /// <summary>Every accepted completion, in order.</summary>
    public ConcurrentQueue<ShardCompletion> Completions { get; } = new();

    /// <summary>Completions refused because the lease was no longer held.</summary>
    public ConcurrentQueue<ShardCompletion> RefusedCompletions { get; } = new();

    /// <summary>Shards handed back with a lease that still held them.</summary>
    public ConcurrentQueue<long> Released { get; } = new();

    /// <summary>Completes when a renewal was refused (the holder has lost its lease).</summary>
    public Task LeaseLost => _leaseLost.Task;

    /// <summary>A ledger whose listing (sorted) is cut into shards of <paramref name="shardSize"/>.</summary>
    public static InMemoryShardLedger Create(IEnumerable<string> sources, int shardSize, TimeProvider? time = null)
    {
        var ledger = new InMemoryShardLedger(time ?? TimeProvider.System);
        var id = 0L;
        foreach (var members in sources.Order(StringComparer.Ordinal).Chunk(shardSize))
        {
            ledger._shards.Add(new Shard(ledger._shards.Count, members.Select(s => new Row(id++, s)).ToList()));
        }

        return ledger;
    }

    /// <summary>Runs <paramref name="hook"/> before the next claim that finds nothing returns (to widen a race window).</summary>
    public void OnceWhenEmpty(Func<Task> hook) => _onceWhenEmpty = hook;

    /// <summary>Another worker takes the shard's lease over, as after an expiry: the holder's token stops working.</summary>
    public void TakeOver(long shardId)
    {
        lock (_gate)
        {
            var shard = _shards[(int)shardId];
            shard.State = "leased";
            shard.Token = Guid.NewGuid();
            shard.Expires = time.GetUtcNow() + TimeSpan.FromHours(1);
        }
    }

    /// <summary>Cancels the job, as the distributed ledger does: no more claims, and renewals are refused though the leases stay.</summary>
    public void CancelJob()
    {
        lock (_gate)
        {
            _cancelled = true;
        }
    }

    /// <summary>A video's state, attempts and last error code, by source.</summary>
    public (VideoState State, int Attempts, string? ErrorCode) VideoOf(string source)
    {
        lock (_gate)
        {
            var row = _shards.SelectMany(s => s.Rows).Single(r => r.Source == source);
            return (row.State, row.Attempts, row.ErrorCode);
        }
    }

    /// <summary>Videos that failed for good.</summary>
    public IReadOnlyList<FailureRecord> FinalFailures()
    {
        lock (_gate)
        {
            return _shards.SelectMany(s => s.Rows).Where(r => r.State == VideoState.Failed)
                .Select(r => new FailureRecord(r.Source, r.ErrorCode ?? ErrorCodes.Internal, r.Message ?? "", r.Attempts)).ToList();
        }
    }

    /// <inheritdoc />
    public async Task<ShardLease?> ClaimShardAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (!_cancelled && _shards.FirstOrDefault(s => s.State == "queued" || (s.State == "leased" && s.Expires < now)) is { } shard)
            {
                shard.State = "leased";
                shard.Token = Guid.NewGuid();
                shard.Expires = now + lease;
                var videos = shard.Rows.Select(r => new ShardVideo(r.Id, r.Source, 10, r.Attempts, r.State, r.Sha, r.ErrorCode, r.Message)).ToList();
                return new ShardLease(JobId, shard.Number, shard.Number, videos, shard.Token.Value, shard.Expires);
            }
        }

        if (Interlocked.Exchange(ref _onceWhenEmpty, null) is { } hook)
        {
            await hook();
        }

        return null;
    }

    /// <inheritdoc />
    public Task<bool> RenewLeaseAsync(ShardLease shard, string workerId, TimeSpan lease, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_cancelled && Holding(shard) is { } held)
            {
                held.Expires = time.GetUtcNow() + lease;
                return Task.FromResult(true);
            }
        }

        _leaseLost.TrySetResult();
        return Task.FromResult(false);
    }

    /// <inheritdoc />
    public Task<CachedEmbedding?> FindEmbeddingAsync(string jobId, string contentSha256, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_cache.GetValueOrDefault(contentSha256));
        }
    }

    /// <inheritdoc />
    public Task RecordVideoResultsAsync(ShardLease shard, IReadOnlyList<VideoResult> results, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var result in results.Where(r => r.Succeeded && r.ContentSha256 is not null))
            {
                _cache.TryAdd(result.ContentSha256!, result.Embedding!);
                var row = RowOf(result.VideoId);
                if (row.State != VideoState.Done)
                {
                    (row.State, row.Sha, row.ErrorCode, row.Message) = (VideoState.Done, result.ContentSha256, null, null);
                    row.Attempts += result.Attempted ? 1 : 0;
                }
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<bool> CompleteShardAsync(ShardLease shard, ShardCompletion completion, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (Holding(shard) is not { } held)
            {
                RefusedCompletions.Enqueue(completion);
                return Task.FromResult(false);
            }

            var retryLeft = false;
            foreach (var result in completion.Results)
            {
                var row = RowOf(result.VideoId);
                if (result.Succeeded)
                {
                    row.Attempts += row.State != VideoState.Done && result.Attempted ? 1 : 0;
                    (row.State, row.Sha) = (VideoState.Done, result.ContentSha256 ?? row.Sha);
                    continue;
                }

                row.Attempts += result.Attempted ? 1 : 0;
                var code = result.ErrorCode ?? ErrorCodes.Internal;
                var final = !ErrorCodes.IsRetryable(code) || row.Attempts >= completion.MaxAttempts;
                retryLeft |= !final;
                (row.State, row.ErrorCode, row.Message, row.Sha) = (final ? VideoState.Failed : VideoState.Pending, code, result.Message, result.ContentSha256 ?? row.Sha);
            }

            (held.State, held.Token) = (retryLeft ? "queued" : "done", null);
            Completions.Enqueue(completion);
            return Task.FromResult(true);
        }
    }

    /// <inheritdoc />
    public Task ReleaseShardAsync(ShardLease shard, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (Holding(shard) is { } held)
            {
                (held.State, held.Token) = ("queued", null);
                Released.Enqueue(shard.ShardId);
            }
        }

        return Task.CompletedTask;
    }

    private Shard? Holding(ShardLease lease) =>
        _shards.ElementAtOrDefault((int)lease.ShardId) is { State: "leased" } shard && shard.Token == lease.LeaseToken ? shard : null;

    private Row RowOf(long videoId) => _shards.SelectMany(s => s.Rows).Single(r => r.Id == videoId);

    private sealed class Shard(int number, List<Row> rows)
    {
        public int Number { get; } = number;

        public List<Row> Rows { get; } = rows;

        public string State { get; set; } = "queued";

        public Guid? Token { get; set; }

        public DateTimeOffset Expires { get; set; }
    }

    private sealed class Row(long id, string source)
    {
        public long Id { get; } = id;

        public string Source { get; } = source;

        public int Attempts { get; set; }

        public VideoState State { get; set; } = VideoState.Pending;

        public string? Sha { get; set; }

        public string? ErrorCode { get; set; }

        public string? Message { get; set; }
    }
}
