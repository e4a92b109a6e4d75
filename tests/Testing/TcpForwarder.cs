using System.Net;
using System.Net.Sockets;

namespace TempMe.Pipeline.Testing;

/// <summary>
/// Accepts TCP connections on one address and copies bytes both ways to a target endpoint: it lets a process in a
/// <see cref="NetworkNamespace"/> reach a server that listens on the host's loopback only (PostgreSQL in the tests).
/// The forwarder listens on the host side of the veth pair, so cutting the pair cuts this path too.
/// </summary>
public sealed class TcpForwarder : IDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];
    private readonly Task _accepting;

    /// <summary>Listens on a free port of <paramref name="listenAddress"/> and forwards to <paramref name="target"/>.</summary>
    public TcpForwarder(IPAddress listenAddress, IPEndPoint target)
    {
        _target = target;
        _listener = new TcpListener(listenAddress, 0);
        _listener.Start();
        Endpoint = (IPEndPoint)_listener.LocalEndpoint;
        // Off the caller's synchronisation context (xUnit's is a small, shared one): the relay must never wait on the test.
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>Where clients connect.</summary>
    public IPEndPoint Endpoint { get; }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => RelayAsync(inbound));
        }
    }

    private async Task RelayAsync(TcpClient inbound)
    {
        using var outbound = new TcpClient();
        lock (_connections)
        {
            _connections.Add(inbound);
            _connections.Add(outbound);
        }

        try
        {
            outbound.NoDelay = true;
            inbound.NoDelay = true;
            await outbound.ConnectAsync(_target, _stop.Token).ConfigureAwait(false);
            var a = inbound.GetStream();
            var b = outbound.GetStream();
            // When either direction ends, both sockets close, so the other copy ends too.
            await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
        }
        finally
        {
            inbound.Dispose();
            lock (_connections)
            {
                _connections.Remove(inbound);
                _connections.Remove(outbound);
            }
        }
    }

    /// <summary>Stops listening and closes every relayed connection.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_connections)
        {
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }

            _connections.Clear();
        }

        try
        {
            _accepting.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
    }
}
