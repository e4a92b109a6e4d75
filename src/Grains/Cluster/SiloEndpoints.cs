using System.Net;
using System.Net.Sockets;

namespace TempMe.Pipeline.Grains.Cluster;

/// <summary>
/// Where a silo listens: <c>--silo-port</c> (silo-to-silo traffic, 11111 by default) and <c>--gateway-port</c>
/// (clients, 30000 by default; a worker silo that takes no clients may pass 0 to <see cref="WithoutGateway"/>).
/// Port 0 asks for a free port, picked when the silo is configured. <see cref="AdvertisedAddress"/> is the address
/// other silos reach this one at (written to the membership table); null means the host's first address.
/// </summary>
/// <param name="SiloPort">The silo-to-silo port, 0 for a free one.</param>
/// <param name="GatewayPort">The client gateway port, 0 for a free one.</param>
/// <param name="AdvertisedAddress">The address published in the membership table; null for the host's own.</param>
public sealed record SiloEndpoints(int SiloPort = SiloEndpoints.DefaultSiloPort, int GatewayPort = SiloEndpoints.DefaultGatewayPort, IPAddress? AdvertisedAddress = null)
{
    /// <summary>The default silo-to-silo port.</summary>
    public const int DefaultSiloPort = 11111;

    /// <summary>The default client gateway port.</summary>
    public const int DefaultGatewayPort = 30000;

    /// <summary>Whether this silo accepts client connections (every silo does unless built <see cref="WithoutGateway"/>).</summary>
    public bool HasGateway { get; init; } = true;

    /// <summary>The same endpoints on a silo that takes no client connections.</summary>
    public SiloEndpoints WithoutGateway() => this with { HasGateway = false, GatewayPort = 0 };

    /// <summary>
    /// Checks the ports and returns null when they are usable, else a message naming the option and the fix,
    /// for the CLI to print with exit code 2.
    /// </summary>
    public string? Problem()
    {
        if (SiloPort is < 0 or > 65535)
        {
            return $"--silo-port {SiloPort} is not a TCP port: give 1-65535, or 0 for a free port.";
        }

        if (GatewayPort is < 0 or > 65535)
        {
            return $"--gateway-port {GatewayPort} is not a TCP port: give 1-65535, or 0 for a free port.";
        }

        if (HasGateway && SiloPort != 0 && SiloPort == GatewayPort)
        {
            return $"--silo-port and --gateway-port are both {SiloPort}: give them different ports.";
        }

        return null;
    }

    /// <summary>These endpoints with every 0 port replaced by a port that is free now.</summary>
    /// <exception cref="ArgumentException">The ports are not usable (see <see cref="Problem"/>).</exception>
    public SiloEndpoints Resolve()
    {
        if (Problem() is { } problem)
        {
            throw new ArgumentException(problem);
        }

        var silo = SiloPort == 0 ? FreePort() : SiloPort;
        var gateway = HasGateway && GatewayPort == 0 ? FreePort(silo) : GatewayPort;
        return this with { SiloPort = silo, GatewayPort = gateway };
    }

    // The OS picks the port; it is released at once, so another process could take it before the silo binds (the
    // silo then fails to start with "address in use", which is loud, not silent).
    private static int FreePort(int notThis = -1)
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Any, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            if (port != notThis)
            {
                return port;
            }
        }
    }
}
