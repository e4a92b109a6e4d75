using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Orleans.Dashboard;

namespace TempMe.Pipeline.Silo;

/// <summary>
/// The Orleans dashboard (grains, silos, calls per second) under <c>/orleans</c>, beside our own dashboard at <c>/</c>.
/// It is open to read like the rest of the dashboards and read-only: anything but GET and HEAD is refused, token or not.
/// </summary>
internal static class OrleansDashboardEndpoints
{
    /// <summary>Where the Orleans dashboard is served.</summary>
    public const string RoutePrefix = "/orleans";

    /// <summary>Maps the dashboard and its read-only guard.</summary>
    public static void Map(WebApplication app)
    {
        app.UseWhen(
            context => context.Request.Path.StartsWithSegments(RoutePrefix) && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method),
            branch => branch.Run(context => Results.Problem(
                title: "read-only",
                detail: $"The Orleans dashboard at {RoutePrefix} is read-only; use the job API (/api/jobs) to change anything.",
                statusCode: StatusCodes.Status405MethodNotAllowed).ExecuteAsync(context)));
        app.MapOrleansDashboard(RoutePrefix);
    }
}
