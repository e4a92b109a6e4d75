using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Ledger;

/// <summary>
/// Keeps the secret part of storage addresses apart: the query of an <c>http(s)://</c> address (a SAS token) is split off,
/// and what is stored and shown keeps every SAS field but the signature (<c>sig=REDACTED</c>). Joining the shown
/// address with its secret gives back the address exactly as submitted.
/// </summary>
public static class AddressSecrets
{
    /// <summary>The address fit for storage and display, and its secret query (without '?'); null when it has none.</summary>
    public static (string Shown, string? Secret) Split(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var query = address.IndexOf('?', StringComparison.Ordinal);
        var isUrl = address.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || address.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
        if (!isUrl || query < 0 || query == address.Length - 1)
        {
            return (address, null);
        }

        var secret = address[(query + 1)..];
        return (address[..(query + 1)] + SecretRedaction.Redact(secret), secret);
    }

    /// <summary>The full address: <paramref name="shown"/> (from <see cref="Split"/>) with its secret query put back.</summary>
    public static string Join(string shown, string? secret)
    {
        ArgumentNullException.ThrowIfNull(shown);
        if (secret is null)
        {
            return shown;
        }

        var query = shown.IndexOf('?', StringComparison.Ordinal);
        return (query < 0 ? shown : shown[..query]) + "?" + secret;
    }

    /// <summary>The address fit for storage and display.</summary>
    public static string Redact(string address) => Split(address).Shown;

}
