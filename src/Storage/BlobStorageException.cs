namespace TempMe.Pipeline.Storage;

/// <summary>A blob service request failed (after retries for transient faults). The message never holds keys or SAS signatures.</summary>
public sealed class BlobStorageException : IOException
{
    /// <summary>Creates an exception with a message.</summary>
    public BlobStorageException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public BlobStorageException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    public BlobStorageException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception for an HTTP answer.</summary>
    public BlobStorageException(string message, int statusCode, string? errorCode, Exception? innerException = null)
        : base(message, innerException)
    {
        StatusCode = statusCode;
        ErrorCode = errorCode;
    }

    /// <summary>The HTTP status, or 0 when no answer came (network failure).</summary>
    public int StatusCode { get; }

    /// <summary>The service's <c>x-ms-error-code</c>, when it sent one.</summary>
    public string? ErrorCode { get; }

    /// <summary>Whether trying again later may succeed (network failures, throttling, server busy).</summary>
    public bool IsTransient => StatusCode == 0 || IsTransientStatus(StatusCode);

    /// <summary>The statuses the SDK's retry policy retries (408, 429, 500, 502, 503, 504).</summary>
    internal static bool IsTransientStatus(int status) => status is 408 or 429 or 500 or 502 or 503 or 504;
}
