using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TempMe.Pipeline.Storage.Tests.Support;

/// <summary>
/// A real TCP proxy on 127.0.0.1 in front of the blob service that answers the first <c>failures</c> HTTP requests with
/// <c>503 Server Busy</c> (closing the connection) and forwards everything after that byte for byte.
/// Azurite cannot be made to return 503 on demand, so this is how a transient fault is produced for real at the HTTP layer:
/// the client under test goes through its real sockets, real HTTP parsing and real retry delays.
/// </summary>
internal sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Uri _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly FaultKind _kind;
    private readonly int _cutAfterBytes;
    private int _remainingFailures;
    private int _failed;
    private int _forwardedConnections;

    public FaultProxy(Uri target, int failures, FaultKind kind = FaultKind.ServerBusy, int cutAfterBytes = 0)
    {
        _kind = kind;
        _cutAfterBytes = cutAfterBytes;
        _target = target;
        _remainingFailures = failures;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    /// <summary>Requests answered with 503.</summary>
    public int Failed => Volatile.Read(ref _failed);

    /// <summary>Connections passed through to the target.</summary>
    public int ForwardedConnections => Volatile.Read(ref _forwardedConnections);

    /// <summary>The target endpoint rewritten to go through the proxy (same path, so the same account segment).</summary>
    public Uri Endpoint => new UriBuilder(_target) { Host = "127.0.0.1", Port = Port }.Uri;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _acceptLoop;
        }
        catch (Exception)
        {
            // Stopping.
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(client));
        }
    }

    private async Task HandleAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                if (_kind == FaultKind.CutResponse)
                {
                    await ForwardAsync(stream, Interlocked.Decrement(ref _remainingFailures) >= 0 ? _cutAfterBytes : -1);
                    return;
                }

                if (Interlocked.Decrement(ref _remainingFailures) >= 0)
                {
                    await DrainRequestAsync(stream);
                    Interlocked.Increment(ref _failed);
                    if (_kind == FaultKind.Hang)
                    {
                        await Task.Delay(Timeout.Infinite, _stop.Token);
                    }

                    var response = Encoding.ASCII.GetBytes("HTTP/1.1 503 Server Busy\r\nContent-Length: 0\r\nx-ms-error-code: ServerBusy\r\nConnection: close\r\n\r\n");
                    await stream.WriteAsync(response, _stop.Token);
                    return;
                }

                await ForwardAsync(stream, -1);
            }
            catch (Exception)
            {
                // A broken test connection ends here.
            }
        }
    }

    private async Task ForwardAsync(NetworkStream client, int cutAfterBytes)
    {
        Interlocked.Increment(ref _forwardedConnections);
        using var upstream = new TcpClient();
        await upstream.ConnectAsync(_target.Host, _target.Port, _stop.Token);
        var up = upstream.GetStream();
        var a = PumpAsync(client, up, -1);
        var b = PumpAsync(up, client, cutAfterBytes);
        await Task.WhenAny(a, b);
        if (cutAfterBytes >= 0)
        {
            Interlocked.Increment(ref _failed);
            client.Socket.LingerState = new LingerOption(true, 0); // reset, like a dropped connection
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, int limit)
    {
        var buffer = new byte[81920];
        long total = 0;
        int n;
        while ((n = await from.ReadAsync(buffer, _stop.Token)) > 0)
        {
            if (limit >= 0 && total + n >= limit)
            {
                await to.WriteAsync(buffer.AsMemory(0, (int)(limit - total)), _stop.Token);
                return;
            }

            total += n;
            await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
        }
    }

    private async Task DrainRequestAsync(NetworkStream stream)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(head))
        {
            if (await stream.ReadAsync(one, _stop.Token) == 0)
            {
                return;
            }

            head.Add(one[0]);
        }

        var text = Encoding.ASCII.GetString([.. head]);
        long length = 0;
        foreach (var line in text.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                length = long.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        var buffer = new byte[81920];
        while (length > 0)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length)), _stop.Token);
            if (n == 0)
            {
                return;
            }

            length -= n;
        }
    }

    /// <summary>How the first requests fail.</summary>
    public enum FaultKind
    {
        /// <summary>Answer 503 Server Busy.</summary>
        ServerBusy,

        /// <summary>Read the request and never answer (the client's attempt timeout fires).</summary>
        Hang,

        /// <summary>Forward, but drop the connection after <c>cutAfterBytes</c> bytes of the answer.</summary>
        CutResponse,
    }

    private static bool EndsWithBlankLine(List<byte> b) =>
        b.Count >= 4 && b[^4] == '\r' && b[^3] == '\n' && b[^2] == '\r' && b[^1] == '\n';
}
