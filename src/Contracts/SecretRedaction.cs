using System.Text.RegularExpressions;

namespace TempMe.Pipeline.Contracts;

/// <summary>
/// Removes secrets from text meant for humans (logs, problem details, failure messages): SAS signatures, storage
/// account keys and connection-string passwords. One set of rules so every process hides the same things.
/// </summary>
public static partial class SecretRedaction
{
    /// <summary>The replacement for a removed secret.</summary>
    public const string Mask = "REDACTED";

    /// <summary>
    /// <paramref name="text"/> with the values of <c>sig=</c>, <c>AccountKey=</c>, <c>SharedAccessSignature=</c>,
    /// <c>Password=</c> and <c>Pwd=</c> replaced by <see cref="Mask"/>.
    /// </summary>
    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? string.Empty;
        }

        // The signature first: a SharedAccessSignature= value holds one, and the key rule then takes the rest.
        text = SignaturePattern().Replace(text, "${k}=" + Mask);
        text = KeyPattern().Replace(text, "${k}=" + Mask);
        return PasswordPattern().Replace(text, "${k}=" + Mask);
    }

    // A value ends at a quote, or at the \" that closes it inside JSON text; any other backslash is part of it (a
    // JSON-escaped key holds \/ and \u002B).
    [GeneratedRegex("(?<k>sig)=(?:(?!\\\\\")[^&;\\s'\"])*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SignaturePattern();

    [GeneratedRegex("(?<k>AccountKey|SharedAccessSignature)=(?:(?!\\\\\")[^;\\s'\"])*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex KeyPattern();

    // Connection strings may quote a password, and a quoted one may hold ';'.
    [GeneratedRegex("(?<k>password|pwd)=(?:'[^']*'|\"[^\"]*\"|[^;&\\s]*)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PasswordPattern();
}
