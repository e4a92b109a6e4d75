using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Ledger;

namespace TempMe.Pipeline.Indexing.Tests.Fakes;

/// <summary>The ledger contract against the pipeline tests' in-memory ledger: the fake behaves as the real ones do.</summary>
public sealed class InMemoryShardLedgerContractTests : ShardLedgerContract
{
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private InMemoryShardLedger? _ledger;

    /// <inheritdoc />
    protected override bool ChargesAttemptOnExpiredLease => false;

    /// <inheritdoc />
    protected override Task<IShardLedger> CreateLedgerAsync(IReadOnlyList<SourceVideo> listing, int shardSize)
    {
        _ledger = InMemoryShardLedger.Create(listing.Select(v => v.Source), shardSize, _clock);
        return Task.FromResult<IShardLedger>(_ledger);
    }

    /// <inheritdoc />
    protected override Task PassTimeAsync(TimeSpan span)
    {
        _clock.Advance(span);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    protected override Task<IReadOnlyList<FailureRecord>> FinalFailuresAsync() => Task.FromResult(_ledger!.FinalFailures());
}
