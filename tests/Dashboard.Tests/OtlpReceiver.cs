using System.Collections.Concurrent;
using System.Net;
using System.Text;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Dashboard.Tests;

/// <summary>
/// Stands in for an OpenTelemetry collector (none is installable here): accepts OTLP/HTTP protobuf posts on loopback
/// and keeps their bodies, which name the exported instruments and the service as UTF-8 strings.
/// </summary>
internal sealed class OtlpReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<(string Path, byte[] Body)> _posts = new();
    private readonly Task _loop;

    public OtlpReceiver()
    {
        Port = TestEnvironment.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Waits until a post to <paramref name="path"/> holds every one of <paramref name="texts"/>.</summary>
    public async Task<bool> WaitForAsync(string path, TimeSpan timeout, params string[] texts)
    {
        var wanted = texts.Select(Encoding.UTF8.GetBytes).ToArray();
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_posts.Any(p => p.Path == path && wanted.All(w => p.Body.AsSpan().IndexOf(w) >= 0)))
            {
                return true;
            }

            await Task.Delay(200);
        }

        return false;
    }

    public string Summary() => string.Join(", ", _posts.GroupBy(p => p.Path).Select(g => $"{g.Key}: {g.Count()} post(s)"));

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            _posts.Enqueue((context.Request.Url!.AbsolutePath, body.ToArray()));
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }
}
