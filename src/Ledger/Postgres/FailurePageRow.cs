namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>A final failure with its video id, the cursor for the next page (<c>after</c>).</summary>
/// <param name="VideoId">The video's row number in the listing.</param>
/// <param name="Failure">What failed.</param>
public sealed record FailurePageRow(long VideoId, FailureRecord Failure);
