using Microsoft.Data.Sqlite;

namespace TempMe.Pipeline.Indexing;

/// <summary>
/// The output folder or its ledger could not be written (disk full, read-only, failing): the run stopped at the first
/// such failure. The message names the problem, the path and the way out; finished work is kept.
/// </summary>
public sealed class IndexStorageException : Exception
{
    private const int NoSpaceErrno = 28; // ENOSPC: .NET reports unmapped errno values as the HResult on Unix.
    private const int QuotaErrno = 122; // EDQUOT
    private const int SqliteFull = 13; // SQLITE_FULL

    private IndexStorageException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>
    /// The storage failure <paramref name="error"/> describes in <paramref name="outputFolder"/>, or null when it is
    /// not one (a bug, a cancellation).
    /// </summary>
    public static IndexStorageException? From(Exception error, string outputFolder)
    {
        const string Retry = "then run the same command again to continue (finished work is kept)";
        return error switch
        {
            IndexStorageException known => known,
            SqliteException { SqliteErrorCode: SqliteFull } e => new($"the disk holding the ledger {LocalIndexer.LedgerPath(outputFolder)} is full ({e.Message}): free some space or choose another --out, {Retry}.", e),
            SqliteException e => new($"the ledger {LocalIndexer.LedgerPath(outputFolder)} cannot be used ({e.Message}): check the disk and its permissions, {Retry}.", e),
            IOException { HResult: NoSpaceErrno or QuotaErrno } e => new($"the disk holding --out {outputFolder} is full ({e.Message}): free some space or choose another --out, {Retry}.", e),
            IOException or UnauthorizedAccessException => new($"cannot write to --out {outputFolder} ({error.Message}): check the disk and its permissions, {Retry}.", error),
            _ => null,
        };
    }

    /// <summary>Runs <paramref name="work"/>; a storage failure in <paramref name="outputFolder"/> comes out as an <see cref="IndexStorageException"/> that names it.</summary>
    public static async Task<T> TranslateAsync<T>(string outputFolder, Func<Task<T>> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        try
        {
            return await work();
        }
        catch (Exception e) when (e is not IndexStorageException && From(e, outputFolder) is { } storage)
        {
            throw storage;
        }
    }
}
