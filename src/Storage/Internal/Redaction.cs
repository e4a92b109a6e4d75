namespace TempMe.Pipeline.Storage.Internal;

/// <summary>Storage addresses fit for humans (the secrets inside text are removed by <c>SecretRedaction</c>).</summary>
internal static class Redaction
{
    /// <summary>A URI without its query string (which may hold a SAS) nor user info.</summary>
    public static string WithoutQuery(Uri uri) => uri.GetLeftPart(UriPartial.Path);
}
