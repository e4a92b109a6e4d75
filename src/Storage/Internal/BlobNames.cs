namespace TempMe.Pipeline.Storage.Internal;

/// <summary>Validation of blob names and prefixes shared by every store.</summary>
internal static class BlobNames
{
    /// <summary>The longest blob name Azure accepts (characters).</summary>
    public const int MaxLength = 1024;

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="name"/> is a safe relative blob name.</summary>
    public static void Validate(string name, string paramName = "name")
    {
        ArgumentNullException.ThrowIfNull(name, paramName);
        if (name.Length == 0)
        {
            throw new ArgumentException("A blob name must not be empty.", paramName);
        }

        if (name.EndsWith('/'))
        {
            throw new ArgumentException($"The blob name '{name}' ends with '/'; a blob name names a file, not a folder.", paramName);
        }

        ValidateCommon(name, paramName, "blob name");
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="prefix"/> is empty or a safe relative name prefix.</summary>
    public static void ValidatePrefix(string prefix, string paramName = "prefix")
    {
        ArgumentNullException.ThrowIfNull(prefix, paramName);
        if (prefix.Length > 0)
        {
            ValidateCommon(prefix.TrimEnd('/'), paramName, "prefix");
        }
    }

    private static void ValidateCommon(string value, string paramName, string what)
    {
        if (value.Length > MaxLength)
        {
            throw new ArgumentException($"The {what} is {value.Length} characters long; at most {MaxLength} are allowed.", paramName);
        }

        if (value.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException($"The {what} '{value}' contains a backslash; use '/' to separate folders.", paramName);
        }

        if (value.StartsWith('/') || Path.IsPathRooted(value) || (value.Length >= 2 && value[1] == ':'))
        {
            throw new ArgumentException($"The {what} '{value}' is an absolute path; names are relative to the store's root.", paramName);
        }

        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                throw new ArgumentException($"The {what} '{value.Replace("\0", "\\0", StringComparison.Ordinal)}' contains a control character.", paramName);
            }
        }

        foreach (var segment in value.Split('/'))
        {
            if (segment.Length == 0 && value.Length > 0)
            {
                throw new ArgumentException($"The {what} '{value}' contains an empty folder segment ('//').", paramName);
            }

            if (segment is "." or "..")
            {
                throw new ArgumentException($"The {what} '{value}' contains a '{segment}' segment; names may not leave or re-enter folders.", paramName);
            }
        }
    }
}
