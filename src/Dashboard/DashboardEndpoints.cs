using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace TempMe.Pipeline.Dashboard;

/// <summary>The latest dashboard snapshot, serialised once and handed to every open event stream.</summary>
internal sealed class DashboardState
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _streams;

    /// <summary>Event streams served at once; one more is refused with 503 (each open browser tab holds one).</summary>
    public int MaxStreams { get; init; } = 64;

    /// <summary>The latest snapshot, or null before the first one.</summary>
    public DashboardSnapshot? Latest { get; private set; }

    /// <summary>The latest snapshot as JSON.</summary>
    public byte[]? LatestJson { get; private set; }

    /// <summary>Increases with each snapshot.</summary>
    public long Version { get; private set; }

    /// <summary>Replaces the snapshot and wakes the event streams.</summary>
    public void Publish(DashboardSnapshot snapshot)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(snapshot, DashboardSnapshot.Json);
        TaskCompletionSource wake;
        lock (_lock)
        {
            Latest = snapshot;
            LatestJson = json;
            Version++;
            wake = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        wake.TrySetResult();
    }

    /// <summary>Takes one of the <see cref="MaxStreams"/> event-stream slots; false when all are taken.</summary>
    public bool TryOpenStream()
    {
        if (Interlocked.Increment(ref _streams) <= MaxStreams)
        {
            return true;
        }

        Interlocked.Decrement(ref _streams);
        return false;
    }

    /// <summary>Gives back a slot taken by <see cref="TryOpenStream"/>.</summary>
    public void CloseStream() => Interlocked.Decrement(ref _streams);

    /// <summary>Waits until a snapshot newer than <paramref name="seen"/> exists or <paramref name="timeout"/> passes.</summary>
    public async Task<(long Version, byte[]? Json)> WaitNewerAsync(long seen, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task next;
        lock (_lock)
        {
            if (Version > seen)
            {
                return (Version, LatestJson);
            }

            next = _next.Task;
        }

        try
        {
            await next.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
        }

        lock (_lock)
        {
            return (Version, Version > seen ? LatestJson : null);
        }
    }
}

/// <summary>Serves the dashboard page (embedded assets), its snapshot and its server-sent events.</summary>
internal static class DashboardEndpoints
{
    private static readonly Dictionary<string, (string ContentType, byte[] Bytes)> Assets = LoadAssets();

    /// <summary>Maps <c>/</c>, the assets, <c>/api/dashboard</c> and <c>/api/events</c>.</summary>
    public static void Map(WebApplication app)
    {
        SecurityHeaders.Use(app);
        app.MapGet("/", (HttpContext context) => Asset(context, "index.html"));
        app.MapGet("/dashboard.css", (HttpContext context) => Asset(context, "dashboard.css"));
        app.MapGet("/dashboard.js", (HttpContext context) => Asset(context, "dashboard.js"));
        app.MapGet("/favicon.svg", (HttpContext context) => Asset(context, "favicon.svg"));
        app.MapGet("/api/dashboard", (DashboardState state) => state.LatestJson is { } json
            ? Results.Bytes(json, "application/json")
            : Results.Problem(title: "not ready", detail: "The first dashboard snapshot is not taken yet.", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/api/events", StreamAsync);
    }

    /// <summary>Server-sent events: one <c>snapshot</c> event per new snapshot (about every second), comments as keep-alives.</summary>
    private static async Task StreamAsync(HttpContext context, DashboardState state, IHostApplicationLifetime lifetime)
    {
        if (!state.TryOpenStream())
        {
            context.Response.Headers.RetryAfter = "10";
            await Results.Problem(
                title: "too many event streams",
                detail: $"This server already serves {state.MaxStreams} live dashboards; close a dashboard tab or retry later (GET /api/dashboard answers without a stream).",
                statusCode: StatusCodes.Status503ServiceUnavailable).ExecuteAsync(context);
            return;
        }

        try
        {
            await StreamEventsAsync(context, state, lifetime);
        }
        finally
        {
            state.CloseStream();
        }
    }

    private static async Task StreamEventsAsync(HttpContext context, DashboardState state, IHostApplicationLifetime lifetime)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var prefix = "event: snapshot\ndata: "u8.ToArray();
        var suffix = "\n\n"u8.ToArray();
        try
        {
            await response.WriteAsync("retry: 2000\n\n", stop.Token);
            await response.Body.FlushAsync(stop.Token);
            long seen = -1;
            while (!stop.IsCancellationRequested)
            {
                var (version, json) = await state.WaitNewerAsync(seen, TimeSpan.FromSeconds(5), stop.Token);
                if (json is null)
                {
                    await response.WriteAsync(": keep-alive\n\n", stop.Token);
                }
                else
                {
                    seen = version;
                    await response.Body.WriteAsync(prefix, stop.Token);
                    await response.Body.WriteAsync(json, stop.Token);
                    await response.Body.WriteAsync(suffix, stop.Token);
                }

                await response.Body.FlushAsync(stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // The browser went away or the host stops.
        }
    }

    private static IResult Asset(HttpContext context, string name)
    {
        var (type, bytes) = Assets[name];
        context.Response.Headers.CacheControl = "no-cache";
        return Results.Bytes(bytes, type);
    }

    private static Dictionary<string, (string, byte[])> LoadAssets()
    {
        var assembly = typeof(DashboardEndpoints).Assembly;
        var assets = new Dictionary<string, (string, byte[])>(StringComparer.Ordinal);
        foreach (var (name, type) in new[] { ("index.html", "text/html; charset=utf-8"), ("dashboard.css", "text/css; charset=utf-8"), ("dashboard.js", "text/javascript; charset=utf-8"), ("favicon.svg", "image/svg+xml") })
        {
            using var stream = assembly.GetManifestResourceStream("TempMe.Pipeline.Dashboard.Assets." + name)
                ?? throw new InvalidOperationException($"The dashboard asset {name} is not embedded in {assembly.GetName().Name}; check <EmbeddedResource> in Dashboard.csproj.");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            assets[name] = (type, copy.ToArray());
        }

        return assets;
    }
}
