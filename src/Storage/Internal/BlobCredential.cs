namespace TempMe.Pipeline.Storage.Internal;

/// <summary>How requests are authorized: SharedKey (account key) or a SAS token appended to every URL. Never printed.</summary>
internal sealed class BlobCredential
{
    private BlobCredential(string accountName, byte[]? key, string? sas)
    {
        AccountName = accountName;
        Key = key;
        Sas = sas;
    }

    /// <summary>The account the credential belongs to.</summary>
    public string AccountName { get; }

    /// <summary>The account key for SharedKey signing, or null for SAS.</summary>
    public byte[]? Key { get; }

    /// <summary>The SAS token without '?', or null for SharedKey.</summary>
    public string? Sas { get; }

    /// <summary>A SharedKey credential.</summary>
    public static BlobCredential FromKey(string accountName, byte[] key) => new(accountName, key, null);

    /// <summary>A SAS credential; <paramref name="sas"/> may start with '?'.</summary>
    public static BlobCredential FromSas(string accountName, string sas) => new(accountName, null, sas.TrimStart('?'));

    /// <summary>The credential a parsed connection string carries (the key wins over a SAS).</summary>
    public static BlobCredential FromConnectionString(StorageConnectionString cs) =>
        cs.AccountKey is { } key ? FromKey(cs.AccountName, key) : FromSas(cs.AccountName, cs.Sas!);

    /// <summary>Appends the SAS to <paramref name="uri"/> when this is a SAS credential.</summary>
    public Uri Apply(Uri uri)
    {
        if (Sas is null)
        {
            return uri;
        }

        var text = uri.OriginalString;
        return new Uri(text + (text.Contains('?', StringComparison.Ordinal) ? "&" : "?") + Sas);
    }

    /// <summary>Signs the request when this is a SharedKey credential (call after <see cref="Apply"/> and all headers are set).</summary>
    public void Authorize(HttpRequestMessage request, DateTimeOffset now)
    {
        if (Key is not null)
        {
            SharedKeySigner.Sign(request, AccountName, Key, now);
        }
        else if (!request.Headers.Contains("x-ms-date"))
        {
            request.Headers.TryAddWithoutValidation("x-ms-date", now.UtcDateTime.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <inheritdoc />
    public override string ToString() => Key is not null ? $"SharedKey({AccountName})" : $"SAS({AccountName}, sig={Redaction.Mask})";
}
