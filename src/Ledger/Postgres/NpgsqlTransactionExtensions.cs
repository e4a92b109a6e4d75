using Npgsql;

namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>Transaction helpers.</summary>
internal static class NpgsqlTransactionExtensions
{
    /// <summary>Whether the transaction was already committed or rolled back.</summary>
    public static bool IsCompleted(this NpgsqlTransaction tx) => tx.Connection is null;
}
