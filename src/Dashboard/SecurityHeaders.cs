using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace TempMe.Pipeline.Dashboard;

/// <summary>
/// Headers on every answer of the silo and of <c>tempme index --dashboard</c>: the page loads its own script, style and
/// icon only (no inline code, so injected markup cannot run), cannot be framed (clickjacking of cancel / retry), and
/// browsers do not guess content types.
/// </summary>
internal static class SecurityHeaders
{
    /// <summary>Same-origin script, style, images and connections; nothing inline, no plugins, no framing.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>Adds the headers before any endpoint runs.</summary>
    public static void Use(WebApplication app) => app.Use(async (context, next) =>
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XFrameOptions = "DENY";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        await next(context);
    });
}
