using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Postgres;

namespace TempMe.Pipeline.Ledger.Tests;

/// <summary>The test PostgreSQL server, connected once per test class (a fresh database per fact comes from it).</summary>
public sealed class PostgresServer
{
    /// <summary>The server scripts/test.sh starts.</summary>
    public TestPostgres Postgres { get; } = new();
}
