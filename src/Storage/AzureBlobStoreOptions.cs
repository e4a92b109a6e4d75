namespace TempMe.Pipeline.Storage;

/// <summary>
/// Tuning for <see cref="AzureBlobStore"/>; the defaults suit Azure and Azurite. Retries and timeouts are handed to the
/// Azure SDK (<c>BlobClientOptions.Retry</c>), transfers to its <c>StorageTransferOptions</c>.
/// </summary>
public sealed class AzureBlobStoreOptions
{
    /// <summary>Retries after the first attempt for transient faults (408, 429, 500, 502, 503, 504, network errors, attempt timeouts). Default 3 (4 attempts).</summary>
    public int MaxRetryAttempts { get; set; } = 3;

    /// <summary>First backoff delay; it doubles per retry, with jitter (the SDK's exponential mode). Default 200 ms.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Largest backoff delay. Default 10 s.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Time limit of one HTTP attempt (the SDK's network timeout: up to the headers, and between reads of a body). Default 100 s.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>Payloads up to this many bytes go up in one Put Blob; larger ones as blocks committed by one block list. Default 8 MiB.</summary>
    public int SingleUploadThreshold { get; set; } = 8 * 1024 * 1024;

    /// <summary>Size of one block for large uploads. Default 4 MiB.</summary>
    public int BlockSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Blocks uploaded at the same time for one large write (each holds one block in memory). Default 4.</summary>
    public int UploadConcurrency { get; set; } = 4;

    /// <summary>Bytes fetched per ranged Get Blob when a blob is read as a stream; only this much is held in memory. Default 4 MiB.</summary>
    public int ReadRangeSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Page size of List Blobs requests (1..5000). Default 5000.</summary>
    public int ListPageSize { get; set; } = 5000;

    /// <summary>
    /// Called on every retry with the operation (for example "PutBlob"), the retry number (1-based) and the reason
    /// ("HTTP 503", "HttpRequestException"). For metrics; must not throw. Never receives secrets.
    /// </summary>
    public Action<string, int, string>? OnRetry { get; set; }

    internal void Validate()
    {
        if (MaxRetryAttempts < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRetryAttempts), MaxRetryAttempts, "AzureBlobStoreOptions.MaxRetryAttempts must be 0 or more.");
        }

        if (RetryBaseDelay < TimeSpan.Zero || RetryMaxDelay < RetryBaseDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(RetryBaseDelay), RetryBaseDelay, "AzureBlobStoreOptions.RetryBaseDelay must be 0 or more and at most RetryMaxDelay.");
        }

        if (AttemptTimeout <= TimeSpan.Zero && AttemptTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(AttemptTimeout), AttemptTimeout, "AzureBlobStoreOptions.AttemptTimeout must be positive (or Timeout.InfiniteTimeSpan).");
        }

        if (BlockSize is < 64 * 1024 or > 100 * 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "AzureBlobStoreOptions.BlockSize must be between 64 KiB and 100 MiB.");
        }

        if (SingleUploadThreshold is < 0 or > 256 * 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(SingleUploadThreshold), SingleUploadThreshold, "AzureBlobStoreOptions.SingleUploadThreshold must be between 0 and 256 MiB.");
        }

        if (UploadConcurrency < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(UploadConcurrency), UploadConcurrency, "AzureBlobStoreOptions.UploadConcurrency must be at least 1.");
        }

        if (ReadRangeSize is < 64 * 1024 or > 256 * 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(ReadRangeSize), ReadRangeSize, "AzureBlobStoreOptions.ReadRangeSize must be between 64 KiB and 256 MiB.");
        }

        if (ListPageSize is < 1 or > 5000)
        {
            throw new ArgumentOutOfRangeException(nameof(ListPageSize), ListPageSize, "AzureBlobStoreOptions.ListPageSize must be between 1 and 5000.");
        }
    }
}
