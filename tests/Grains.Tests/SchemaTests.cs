using Npgsql;
using TempMe.Pipeline.Grains.Cluster;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Postgres;

namespace TempMe.Pipeline.Grains.Tests;

/// <summary>The Orleans schema migrations on a real PostgreSQL, each test in a database of its own.</summary>
public sealed class SchemaTests
{
    // The keys the three ADO.NET providers look up at start (their DbStoredQueries and the storage's init query).
    private static readonly string[] ProviderQueryKeys =
    [
        "InsertMembershipVersionKey", "InsertMembershipKey", "UpdateMembershipKey", "UpdateIAmAlivetimeKey",
        "MembershipReadRowKey", "MembershipReadAllKey", "GatewaysQueryKey", "DeleteMembershipTableEntriesKey",
        "CleanupDefunctSiloEntriesKey",
        "ReadFromStorageKey", "WriteToStorageKey", "ClearStorageKey", "DeleteStorageKey",
        "UpsertReminderRowKey", "ReadReminderRowsKey", "ReadReminderRowKey", "ReadRangeRows1Key", "ReadRangeRows2Key",
        "DeleteReminderRowKey", "DeleteReminderRowsKey",
    ];

    private readonly TestPostgres _postgres = new();

    [Fact]
    public async Task Migrating_twice_applies_every_script_once_and_leaves_every_provider_query_in_place()
    {
        var db = _postgres.CreateDatabase("orleans_schema_");

        var first = await OrleansSchema.MigrateAsync(db, CancellationToken.None);
        var queriesAfterFirst = await QueriesAsync(db);
        var second = await OrleansSchema.MigrateAsync(db, CancellationToken.None);

        Assert.Equal(OrleansSchema.LatestVersion, first);
        Assert.Equal(first, second);
        Assert.Equal(first, await OrleansSchema.VersionAsync(db, CancellationToken.None));
        Assert.Equal(Enumerable.Range(1, first), await IntsAsync(db, "SELECT version FROM orleans_schema_version ORDER BY version"));
        Assert.Equal(queriesAfterFirst, await QueriesAsync(db));
        Assert.Empty(ProviderQueryKeys.Except(queriesAfterFirst.Keys));
    }

    [Fact]
    public async Task Every_script_can_run_again_on_a_database_that_already_has_it()
    {
        // The version table keeps scripts from running twice; the scripts themselves are also idempotent, so a
        // half-applied or hand-applied schema is repaired rather than broken by a rerun.
        var db = _postgres.CreateDatabase("orleans_rerun_");
        await OrleansSchema.MigrateAsync(db, CancellationToken.None);
        var before = await QueriesAsync(db);

        await using (var conn = new NpgsqlConnection(db))
        {
            await conn.OpenAsync();
            foreach (var (_, sql) in OrleansSchema.Scripts)
            {
                await using var cmd = new NpgsqlCommand(sql, conn);
                await cmd.ExecuteNonQueryAsync();
            }
        }

        Assert.Equal(before, await QueriesAsync(db));
    }

    [Fact]
    public async Task The_ledger_and_the_orleans_schema_share_a_database_without_touching_each_others_versions()
    {
        var db = _postgres.CreateDatabase("orleans_ledger_");
        await OrleansSchema.MigrateAsync(db, CancellationToken.None);
        await using var ledger = PostgresLedger.Create(db);
        await ledger.MigrateAsync(CancellationToken.None);
        await OrleansSchema.MigrateAsync(db, CancellationToken.None);

        Assert.True(await ledger.IsReadyAsync(CancellationToken.None));
        Assert.Equal(PostgresLedger.LatestSchemaVersion, (await IntsAsync(db, "SELECT max(version) FROM schema_version")).Single());
        Assert.Equal(OrleansSchema.LatestVersion, await OrleansSchema.VersionAsync(db, CancellationToken.None));
    }

    [Fact]
    public async Task Silos_starting_together_on_a_fresh_database_apply_each_script_once()
    {
        // Every silo and worker migrates both schemas at start; six at once on an empty database must all succeed
        // (the advisory locks serialize them) and leave one row per version.
        var db = _postgres.CreateDatabase("orleans_together_");
        var starts = Enumerable.Range(0, 6).Select(async _ =>
        {
            await using var ledger = PostgresLedger.Create(db);
            await ledger.MigrateAsync(CancellationToken.None);
            return await OrleansSchema.MigrateAsync(db, CancellationToken.None);
        });

        var versions = await Task.WhenAll(starts);

        Assert.All(versions, v => Assert.Equal(OrleansSchema.LatestVersion, v));
        Assert.Equal(Enumerable.Range(1, OrleansSchema.LatestVersion), await IntsAsync(db, "SELECT version FROM orleans_schema_version ORDER BY version"));
        Assert.Equal(Enumerable.Range(1, PostgresLedger.LatestSchemaVersion), await IntsAsync(db, "SELECT version FROM schema_version ORDER BY version"));
    }

    [Fact]
    public async Task An_unmigrated_database_reports_version_zero()
    {
        var db = _postgres.CreateDatabase("orleans_empty_");

        Assert.Equal(0, await OrleansSchema.VersionAsync(db, CancellationToken.None));
    }

    private static async Task<Dictionary<string, string>> QueriesAsync(string db)
    {
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT querykey, querytext FROM orleansquery", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var queries = new Dictionary<string, string>(StringComparer.Ordinal);
        while (await reader.ReadAsync())
        {
            queries[reader.GetString(0)] = reader.GetString(1);
        }

        return queries;
    }

    private static async Task<List<int>> IntsAsync(string db, string sql)
    {
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var values = new List<int>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetInt32(0));
        }

        return values;
    }
}
