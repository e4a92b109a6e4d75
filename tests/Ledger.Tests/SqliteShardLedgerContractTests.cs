using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Ledger.Sqlite;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Ledger;

namespace TempMe.Pipeline.Ledger.Tests;

/// <summary>The ledger contract against the single-machine SQLite ledger, on a clock the test moves.</summary>
public sealed class SqliteShardLedgerContractTests : ShardLedgerContract
{
    private readonly string _folder = Directory.CreateTempSubdirectory("tempme-ledger-contract-").FullName;
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private SqliteLedger? _ledger;

    /// <inheritdoc />
    protected override bool ChargesAttemptOnExpiredLease => false;

    /// <inheritdoc />
    protected override async Task<IShardLedger> CreateLedgerAsync(IReadOnlyList<SourceVideo> listing, int shardSize)
    {
        _ledger = await SqliteLedger.OpenAsync(Path.Combine(_folder, "ledger.db"), _clock);
        await _ledger.EnsureJobAsync(new JobRecord("random:vit-b32", new string('f', 64), "t12-s224-fps1", 4, shardSize), default);
        await _ledger.SyncListingAsync(listing, maxAttempts: 3, default);
        return _ledger;
    }

    /// <inheritdoc />
    protected override Task PassTimeAsync(TimeSpan span)
    {
        _clock.Advance(span);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    protected override Task<IReadOnlyList<FailureRecord>> FinalFailuresAsync() => _ledger!.ListFailuresAsync(default);

    /// <inheritdoc />
    public override async Task DisposeAsync()
    {
        if (_ledger is not null)
        {
            await _ledger.DisposeAsync();
        }

        Directory.Delete(_folder, recursive: true);
    }
}
