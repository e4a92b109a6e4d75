using System.Text.RegularExpressions;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>Removes secrets (SAS signatures, account keys) from text meant for humans.</summary>
internal static partial class Redaction
{
    /// <summary>The replacement for a removed secret.</summary>
    public const string Mask = "REDACTED";

    /// <summary>Replaces the values of <c>sig=</c> and <c>AccountKey=</c>/<c>SharedAccessSignature=</c> with <see cref="Mask"/>.</summary>
    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? string.Empty;
        }

        text = SigPattern().Replace(text, "${k}=" + Mask);
        return KeyPattern().Replace(text, "${k}=" + Mask);
    }

    /// <summary>A URI without its query string (which may hold a SAS) nor user info.</summary>
    public static string WithoutQuery(Uri uri) => uri.GetLeftPart(UriPartial.Path);

    [GeneratedRegex("(?<k>sig)=[^&;\\s'\"]*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SigPattern();

    [GeneratedRegex("(?<k>AccountKey|SharedAccessSignature)=[^;\\s'\"]*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex KeyPattern();
}
